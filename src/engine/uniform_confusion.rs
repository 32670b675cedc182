//! BlindEye's confusion loss (Alvi et al., 2018): cross-entropy between the uniform distribution
//! over the K classes and the softmax of each row, `−(1/K)·Σ_k log p_k`, averaged over rows.
//! Gradient per row: `∂/∂z_j = p_j − 1/K`.

use crate::engine::softmax::mean_row_loss;

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
        |p, log_p, d| {
            d.iter_mut().zip(p).for_each(|(d, p)| *d = p - uniform);
            -uniform * log_p.iter().sum::<f32>()
        },
    )
}
