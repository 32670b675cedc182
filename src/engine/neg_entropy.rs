//! The LNTL regularizer: the mean over rows of `Σ_k p_k log p_k` (the negative entropy of the
//! softmax `p` of each row of logits). Minimizing it drives predictions towards uniform.
//! Gradient per row: `∂/∂z_j = p_j·(log p_j − Σ_k p_k log p_k)`. Computed from log-softmax, so
//! a probability that underflows to 0 contributes 0 (the original code's `p·log(p)` gives NaN).

use crate::engine::softmax::mean_row_loss;

/// Mean negative entropy over `rows` rows of `classes` logits (row r at `r·row_stride + offset`);
/// adds `scale ×` its gradient to `grad` when given.
pub fn neg_entropy(
    logits: &[f32],
    row_stride: usize,
    offset: usize,
    classes: usize,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    mean_row_loss(
        logits,
        row_stride,
        offset,
        classes,
        rows,
        scale,
        grad,
        |log_p, d| {
            let value: f32 = log_p.iter().map(|&l| l.exp() * l).sum();
            d.iter_mut()
                .zip(log_p)
                .for_each(|(d, &l)| *d = l.exp() * (l - value));
            value
        },
    )
}
