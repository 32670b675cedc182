//! BlindEye's confusion loss (Alvi et al., 2018): cross-entropy between the uniform distribution
//! over the K classes and the softmax of each row, `−(1/K)·Σ_k log p_k`, averaged over rows.
//! Gradient per row: `∂/∂z_j = p_j − 1/K`.

use crate::engine::softmax::log_softmax_into;

/// Mean confusion loss over `rows` rows of `classes` logits (row r at `r·row_stride + offset`);
/// adds `scale ×` its gradient to `grad` when given.
pub fn uniform_confusion(
    logits: &[f32],
    row_stride: usize,
    offset: usize,
    classes: usize,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let inv_rows = 1.0 / rows as f32;
    let uniform = 1.0 / classes as f32;
    let mut logp = vec![0f32; classes];
    let mut total = 0f64;
    let mut grad = grad;
    for r in 0..rows {
        let start = r * row_stride + offset;
        log_softmax_into(&logits[start..start + classes], &mut logp);
        total -= f64::from(uniform * logp.iter().sum::<f32>());
        if let Some(g) = grad.as_deref_mut() {
            let g = &mut g[start..start + classes];
            for k in 0..classes {
                g[k] += scale * inv_rows * (logp[k].exp() - uniform);
            }
        }
    }
    (total / rows as f64) as f32
}
