//! Cross-entropy on rows of logits with an ignore label, averaged over the rows that are not
//! ignored (PyTorch's `CrossEntropyLoss(ignore_index=…)` with mean reduction).
//! Gradient: `(softmax(z) − onehot(y)) / count` on counted rows, 0 on ignored ones.

use crate::engine::softmax::log_softmax_into;

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
    let mut logp = vec![0f32; classes];
    let mut total = 0f64;
    let mut grad = grad;
    for (r, &label) in labels.iter().enumerate() {
        if Some(label) == ignore {
            continue;
        }
        let start = r * row_stride + offset;
        let z = &logits[start..start + classes];
        log_softmax_into(z, &mut logp);
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
                g[k] += scale * inv * (logp[k].exp() - onehot);
            }
        }
    }
    (total / counted as f64) as f32
}
