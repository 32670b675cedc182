//! Cross-entropy on rows of logits with an ignore label, averaged over the rows that are not
//! ignored (PyTorch's `CrossEntropyLoss(ignore_index=…)` with mean reduction).
//! Gradient: `(softmax(z) − onehot(y)) / count` on counted rows, 0 on ignored ones.

use crate::engine::softmax::{softmax_into, sum_over_row_blocks};

/// Loss and gradient of mean cross-entropy over `labels.len()` rows of `classes` logits, where
/// row r starts at `r·row_stride + offset` in `logits`. Rows labelled `ignore` do not count.
/// The gradient (scaled by `scale`) is added to `grad` at the same positions.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy(
    logits: &[f32],
    row_stride: usize,
    offset: usize,
    classes: usize,
    labels: &[u8],
    ignore: Option<u8>,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let counted = labels.iter().filter(|&&l| Some(l) != ignore).count();
    if counted == 0 {
        return 0.0;
    }
    let inv = 1.0 / counted as f32;
    let rows = labels.len();
    let total = sum_over_row_blocks(logits, row_stride, rows, grad, |logits, mut grad, first| {
        let (mut p, mut logp) = (vec![0f32; classes], vec![0f32; classes]);
        let mut total = 0f64;
        let block_labels = &labels[first..first + logits.len() / row_stride];
        for (r, &label) in block_labels.iter().enumerate() {
            if Some(label) == ignore {
                continue;
            }
            let start = r * row_stride + offset;
            softmax_into(&logits[start..start + classes], &mut p, &mut logp);
            let label = usize::from(label);
            assert!(
                label < classes,
                "label {label} out of range for {classes} classes"
            );
            total -= f64::from(logp[label]);
            if let Some(g) = grad.as_deref_mut() {
                let g = &mut g[start..start + classes];
                for k in 0..classes {
                    let onehot = if k == label { 1.0 } else { 0.0 };
                    g[k] += scale * inv * (p[k] - onehot);
                }
            }
        }
        total
    });
    (total / counted as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::softmax::ROWS_PER_BLOCK;

    /// Over several parallel blocks of rows (with ignored rows and a strided, offset layout),
    /// the loss is the mean of the rows' own losses and each row's gradient is its own
    /// gradient divided by the number of counted rows.
    #[test]
    fn many_rows_match_row_by_row_results() {
        let (classes, stride, offset) = (3, 5, 1);
        let rows = 2 * ROWS_PER_BLOCK + 77;
        let logits: Vec<f32> = (0..rows * stride)
            .map(|i| (i as f32 * 0.61).sin() * 3.0)
            .collect();
        let labels: Vec<u8> = (0..rows)
            .map(|r| if r % 7 == 0 { 255 } else { (r % 3) as u8 })
            .collect();
        let mut grad = vec![0.0; rows * stride];
        let loss = cross_entropy(
            &logits,
            stride,
            offset,
            classes,
            &labels,
            Some(255),
            2.0,
            Some(&mut grad),
        );
        let counted = labels.iter().filter(|&&l| l != 255).count();
        let (mut want_total, mut want_grad) = (0f64, vec![0.0; rows * stride]);
        for r in 0..rows {
            let row = &logits[r * stride..][..stride];
            let mut g = vec![0.0; stride];
            let l = cross_entropy(
                row,
                stride,
                offset,
                classes,
                &labels[r..r + 1],
                Some(255),
                2.0 / counted as f32,
                Some(&mut g),
            );
            want_total += f64::from(l);
            want_grad[r * stride..][..stride].copy_from_slice(&g);
        }
        let want = (want_total / counted as f64) as f32;
        assert!((loss - want).abs() < 1e-5 * want.abs(), "{loss} vs {want}");
        for (i, (g, w)) in grad.iter().zip(&want_grad).enumerate() {
            assert!((g - w).abs() < 1e-6, "grad[{i}]: {g} vs {w}");
        }
        assert!(
            grad.iter().any(|&g| g.abs() > 1e-5),
            "gradient is not trivial"
        );
    }
}
