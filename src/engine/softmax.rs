//! Numerically stable softmax and log-softmax of one row of logits.

/// Writes `log softmax(z)` into `out`: `z_k − max − log Σ exp(z_j − max)`.
pub fn log_softmax_into(z: &[f32], out: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = z.iter().map(|v| (v - max).exp()).sum();
    let log_sum = sum.ln() + max;
    out.iter_mut().zip(z).for_each(|(o, v)| *o = v - log_sum);
}

/// The mean over `rows` rows of logits (row r at `r·row_stride + offset`, `classes` wide) of a
/// per-row loss written in terms of the row's log-softmax: `row_loss(log_p, d)` returns the
/// row's value and writes its gradient with respect to the logits into `d`. Adds `scale/rows`
/// times those gradients to `grad` when given.
#[allow(clippy::too_many_arguments)]
pub fn mean_row_loss(
    logits: &[f32],
    row_stride: usize,
    offset: usize,
    classes: usize,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
    row_loss: impl Fn(&[f32], &mut [f32]) -> f32,
) -> f32 {
    let weight = scale / rows as f32;
    let (mut log_p, mut d) = (vec![0f32; classes], vec![0f32; classes]);
    let mut total = 0f64;
    let mut grad = grad;
    for r in 0..rows {
        let start = r * row_stride + offset;
        log_softmax_into(&logits[start..start + classes], &mut log_p);
        total += f64::from(row_loss(&log_p, &mut d));
        if let Some(g) = grad.as_deref_mut() {
            g[start..start + classes]
                .iter_mut()
                .zip(&d)
                .for_each(|(g, d)| *g += weight * d);
        }
    }
    (total / rows as f64) as f32
}
