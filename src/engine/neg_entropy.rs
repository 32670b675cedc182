//! The LNTL regularizer: the mean over rows of `Σ_k p_k log p_k` (the negative entropy of the
//! softmax `p` of each row of logits). Minimizing it drives predictions towards uniform.
//! Gradient per row: `∂/∂z_j = p_j·(log p_j − Σ_k p_k log p_k)`. Computed from log-softmax, so
//! a probability that underflows to 0 contributes 0 (the original code's `p·log(p)` gives NaN).

use crate::engine::softmax::log_softmax_into;

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
    let inv = 1.0 / rows as f32;
    let mut logp = vec![0f32; classes];
    let mut total = 0f64;
    let mut grad = grad;
    for r in 0..rows {
        let start = r * row_stride + offset;
        log_softmax_into(&logits[start..start + classes], &mut logp);
        let row_value: f32 = logp.iter().map(|&l| l.exp() * l).sum();
        total += f64::from(row_value);
        if let Some(g) = grad.as_deref_mut() {
            let g = &mut g[start..start + classes];
            for k in 0..classes {
                g[k] += scale * inv * logp[k].exp() * (logp[k] - row_value);
            }
        }
    }
    (total / rows as f64) as f32
}
