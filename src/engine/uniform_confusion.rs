//! BlindEye's confusion loss (Alvi et al., 2018): cross-entropy between the uniform distribution
//! over the K classes and the softmax of each row, `−(1/K)·Σ_k log p_k`, averaged over rows.
//! Gradient per row: `∂/∂z_j = p_j − 1/K`.

use crate::engine::softmax::{Lanes, RowLayout, mean_row_loss};

/// Mean confusion loss over `rows` rows of logits (laid out as `layout` says);
/// adds `scale ×` its gradient to `grad` when given.
pub fn uniform_confusion(
    logits: &[f32],
    layout: RowLayout,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let classes = layout.classes;
    let uniform = 1.0 / classes as f32;
    mean_row_loss(logits, layout, rows, scale, grad, |softmax, d| {
        for k in 0..classes {
            d[k] = softmax.p[k] - uniform;
        }
        let log_p_sum = softmax.log_p[..classes]
            .iter()
            .fold(Lanes::ZERO, |s, &l| s + l);
        log_p_sum * -uniform
    })
}
