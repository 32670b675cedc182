//! BlindEye's confusion loss (Alvi et al., 2018): cross-entropy between the uniform distribution
//! over the K classes and the softmax of each row, `−(1/K)·Σ_k log p_k`, averaged over rows.
//! Gradient per row: `∂/∂z_j = p_j − 1/K`.

use crate::engine::softmax::{Lanes, mean_row_loss};

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
    let uniform = 1.0 / classes as f32;
    mean_row_loss(
        logits,
        row_stride,
        offset,
        classes,
        rows,
        scale,
        grad,
        |softmax, d| {
            for k in 0..classes {
                d[k] = softmax.p[k] - uniform;
            }
            let log_p_sum = softmax.log_p[..classes]
                .iter()
                .fold(Lanes::ZERO, |s, &l| s + l);
            log_p_sum * -uniform
        },
    )
}
