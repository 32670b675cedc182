//! Numerically stable softmax and log-softmax of one row of logits, and the parallel loop over
//! rows that the row-wise losses share.

use rayon::prelude::*;

/// Writes `p = softmax(z)` and `log p = z − max − log Σ exp(z_j − max)`, with one `exp` per
/// logit.
pub fn softmax_into(z: &[f32], p: &mut [f32], log_p: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    p.iter_mut().zip(z).for_each(|(p, v)| *p = (v - max).exp());
    let sum: f32 = p.iter().sum();
    let (inv_sum, log_sum) = (1.0 / sum, sum.ln() + max);
    p.iter_mut().for_each(|p| *p *= inv_sum);
    log_p.iter_mut().zip(z).for_each(|(l, v)| *l = v - log_sum);
}

/// Rows per parallel block of the row losses: enough work to be worth a task, and blocks small
/// enough that the per-pixel losses (25,088 rows at batch 128) split evenly over the threads.
pub const ROWS_PER_BLOCK: usize = 1024;

/// Sums `block_total(logits_block, grad_block, first_row)` over blocks of [`ROWS_PER_BLOCK`]
/// rows of `row_stride` values, in parallel; `grad` (when given) is split like `logits`. The
/// partial sums are added in block order, so the result does not depend on the scheduling.
pub fn sum_over_row_blocks(
    logits: &[f32],
    row_stride: usize,
    rows: usize,
    grad: Option<&mut [f32]>,
    block_total: impl Fn(&[f32], Option<&mut [f32]>, usize) -> f64 + Sync,
) -> f64 {
    let block = ROWS_PER_BLOCK * row_stride;
    let logits = &logits[..rows * row_stride];
    let partials: Vec<f64> = match grad {
        Some(grad) => logits
            .par_chunks(block)
            .zip(grad[..rows * row_stride].par_chunks_mut(block))
            .enumerate()
            .map(|(b, (l, g))| block_total(l, Some(g), b * ROWS_PER_BLOCK))
            .collect(),
        None => logits
            .par_chunks(block)
            .enumerate()
            .map(|(b, l)| block_total(l, None, b * ROWS_PER_BLOCK))
            .collect(),
    };
    partials.iter().sum()
}

/// The mean over `rows` rows of logits (row r at `r·row_stride + offset`, `classes` wide) of a
/// per-row loss written in terms of the row's softmax: `row_loss(p, log_p, d)` returns the
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
    row_loss: impl Fn(&[f32], &[f32], &mut [f32]) -> f32 + Sync,
) -> f32 {
    let weight = scale / rows as f32;
    let total = sum_over_row_blocks(logits, row_stride, rows, grad, |logits, mut grad, _| {
        let (mut p, mut log_p, mut d) = (
            vec![0f32; classes],
            vec![0f32; classes],
            vec![0f32; classes],
        );
        let mut total = 0f64;
        for start in (offset..logits.len()).step_by(row_stride) {
            softmax_into(&logits[start..start + classes], &mut p, &mut log_p);
            total += f64::from(row_loss(&p, &log_p, &mut d));
            if let Some(g) = grad.as_deref_mut() {
                g[start..start + classes]
                    .iter_mut()
                    .zip(&d)
                    .for_each(|(g, d)| *g += weight * d);
            }
        }
        total
    });
    (total / rows as f64) as f32
}
