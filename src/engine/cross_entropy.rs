//! Cross-entropy on rows of logits with an ignore label, averaged over the rows that are not
//! ignored (PyTorch's `CrossEntropyLoss(ignore_index=…)` with mean reduction).
//! Gradient: `(softmax(z) − onehot(y)) / count` on counted rows, 0 on ignored ones.

use crate::engine::softmax::{Lanes, ROW_LANES, RowLayout, sum_row_losses};

/// Loss and gradient of mean cross-entropy over `labels.len()` rows of logits laid out as
/// `layout` says. Rows labelled `ignore` do not count. The gradient (scaled by `scale`) is
/// added to `grad` at the same positions.
pub fn cross_entropy(
    logits: &[f32],
    layout: RowLayout,
    labels: &[u8],
    ignore: Option<u8>,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let classes = layout.classes;
    let counted = labels.iter().filter(|&&l| Some(l) != ignore).count();
    if counted == 0 {
        return 0.0;
    }
    if let Some(label) = labels
        .iter()
        .find(|&&l| Some(l) != ignore && usize::from(l) >= classes)
    {
        panic!("label {label} out of range for {classes} classes");
    }
    let total = sum_row_losses(
        logits,
        layout,
        labels.len(),
        scale / counted as f32,
        grad,
        |first, softmax, d| {
            // Each lane's label as a float; ignored rows and lanes past the last row get −1,
            // which matches no class, and a zero weight.
            let label_of = |lane: usize| match labels.get(first + lane) {
                Some(&l) if Some(l) != ignore => f32::from(l),
                _ => -1.0,
            };
            let lane_labels = Lanes::from(std::array::from_fn::<f32, ROW_LANES, _>(label_of));
            let counts = lane_labels
                .simd_eq(Lanes::splat(-1.0))
                .select(Lanes::ZERO, Lanes::ONE);
            let mut value = Lanes::ZERO;
            for k in 0..classes {
                let is_label = lane_labels.simd_eq(Lanes::splat(k as f32));
                value -= is_label.select(softmax.log_p[k], Lanes::ZERO);
                d[k] = (softmax.p[k] - is_label.select(Lanes::ONE, Lanes::ZERO)) * counts;
            }
            value
        },
    );
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
        let layout = RowLayout {
            stride,
            offset,
            classes,
        };
        let loss = cross_entropy(&logits, layout, &labels, Some(255), 2.0, Some(&mut grad));
        let counted = labels.iter().filter(|&&l| l != 255).count();
        let (mut want_total, mut want_grad) = (0f64, vec![0.0; rows * stride]);
        for r in 0..rows {
            let row = &logits[r * stride..][..stride];
            let mut g = vec![0.0; stride];
            let l = cross_entropy(
                row,
                layout,
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
