//! Numerically stable softmax and log-softmax of one row of logits.

/// Writes `log softmax(z)` into `out`: `z_k − max − log Σ exp(z_j − max)`.
pub fn log_softmax_into(z: &[f32], out: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = z.iter().map(|v| (v - max).exp()).sum();
    let log_sum = sum.ln() + max;
    out.iter_mut().zip(z).for_each(|(o, v)| *o = v - log_sum);
}
