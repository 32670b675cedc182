//! Numerically stable softmax and log-softmax of rows of logits, computed [`ROW_LANES`] rows at
//! a time (one row per SIMD lane), and the parallel loop over rows that the row-wise losses
//! share.
//!
//! The per-pixel losses evaluate 75,000 rows of 8 logits per batch; one row at a time, each
//! logit would take a scalar `exp` and each row two reductions across it. With a row per lane,
//! the maximum, the sum and every `exp` act on whole vectors (docs/PERFORMANCE.md has the
//! measurement).

use crate::engine::lanes::{LANES_8, load_f32x8};
use rayon::prelude::*;
use wide::f32x8;

/// Rows of logits one softmax evaluates at once, one per lane of [`Lanes`].
pub const ROW_LANES: usize = LANES_8;

/// One value per row of a group of [`ROW_LANES`] rows.
pub type Lanes = f32x8;

/// The most classes a row may have (the heads' 8 bins and the 10 digits fit).
pub const MAX_CLASSES: usize = 16;

/// Softmax of a group of rows: for class k, `p[k]` and `log_p[k]` hold each row's value.
/// Computed in place, group after group, so that nothing of this size is copied per group.
#[derive(Debug, Clone)]
pub struct LaneSoftmax {
    /// `p_k = exp(z_k − max) / Σ_j exp(z_j − max)`.
    pub p: [Lanes; MAX_CLASSES],
    /// `log p_k = z_k − max − log Σ_j exp(z_j − max)`: finite even where `p_k` underflows to 0.
    pub log_p: [Lanes; MAX_CLASSES],
    /// Classes per row; entries past it are unused.
    pub classes: usize,
}

impl LaneSoftmax {
    /// Room for rows of `classes` logits.
    pub fn new(classes: usize) -> LaneSoftmax {
        assert!(
            (1..=MAX_CLASSES).contains(&classes),
            "rows of {classes} logits (at most {MAX_CLASSES})"
        );
        LaneSoftmax {
            p: [Lanes::ZERO; MAX_CLASSES],
            log_p: [Lanes::ZERO; MAX_CLASSES],
            classes,
        }
    }

    /// Sets `p` and `log_p` to the softmax of rows whose logit k is `z[k]`, with one `exp`
    /// per logit.
    #[inline(always)]
    pub fn compute(&mut self, z: &[Lanes; MAX_CLASSES]) {
        let classes = self.classes;
        let max = z[1..classes].iter().fold(z[0], |m, &v| m.max(v));
        let mut sum = Lanes::ZERO;
        for k in 0..classes {
            self.p[k] = (z[k] - max).exp();
            sum += self.p[k];
        }
        let (inv_sum, log_sum) = (Lanes::ONE / sum, sum.ln() + max);
        for k in 0..classes {
            self.p[k] *= inv_sum;
            self.log_p[k] = z[k] - log_sum;
        }
    }
}

/// Rows per parallel block of the row losses: enough work to be worth a task, and blocks small
/// enough that the per-pixel losses (25,088 rows at batch 128) split evenly over the threads.
/// A multiple of [`ROW_LANES`], so that only the last block has a partial group of rows.
pub const ROWS_PER_BLOCK: usize = 1024;

/// Where rows of logits sit in a buffer: row r's `classes` logits start at `r·stride + offset`.
/// The heads' logits, for one, hold three heads' 8 bins per row: head h is
/// `RowLayout::group(h, 8, 3)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLayout {
    /// Values from one row to the next.
    pub stride: usize,
    /// Where a row's first logit sits.
    pub offset: usize,
    /// Logits per row.
    pub classes: usize,
}

impl RowLayout {
    /// Rows of `classes` logits, one after another.
    pub fn packed(classes: usize) -> RowLayout {
        RowLayout {
            stride: classes,
            offset: 0,
            classes,
        }
    }

    /// Group `group` of `groups` groups of `classes` logits in each row.
    pub fn group(group: usize, classes: usize, groups: usize) -> RowLayout {
        RowLayout {
            stride: classes * groups,
            offset: group * classes,
            classes,
        }
    }
}

/// Σ over `rows` rows of logits (laid out as `layout` says) of a
/// per-row loss written in terms of the row's softmax, in parallel over blocks of
/// [`ROWS_PER_BLOCK`] rows. `row_loss(first_row, softmax, d)` receives a group of
/// [`ROW_LANES`] rows starting at row `first_row` (lanes past the last row hold zero logits),
/// returns each row's value and writes each row's gradient with respect to its logits into
/// `d`. Adds `weight ×` those gradients to `grad` when given. The partial sums are added in
/// block order, so the result does not depend on the scheduling.
pub fn sum_row_losses(
    logits: &[f32],
    layout: RowLayout,
    rows: usize,
    weight: f32,
    grad: Option<&mut [f32]>,
    row_loss: impl Fn(usize, &LaneSoftmax, &mut [Lanes; MAX_CLASSES]) -> Lanes + Sync,
) -> f64 {
    let RowLayout {
        stride: row_stride,
        offset,
        classes,
    } = layout;
    let block_total = |block: usize, logits: &[f32], mut grad: Option<&mut [f32]>| {
        let block_rows = logits.len() / row_stride;
        let (mut z, mut softmax) = ([Lanes::ZERO; MAX_CLASSES], LaneSoftmax::new(classes));
        let mut total = 0f64;
        for group in (0..block_rows).step_by(ROW_LANES) {
            let lanes = ROW_LANES.min(block_rows - group);
            let at = |lane: usize, k: usize| (group + lane) * row_stride + offset + k;
            // Each row's logits are contiguous: load them a row per vector, up to ROW_LANES
            // classes at a time, and transpose to a row per lane.
            for c0 in (0..classes).step_by(ROW_LANES) {
                let width = ROW_LANES.min(classes - c0);
                let rows = std::array::from_fn(|lane| {
                    if lane < lanes {
                        load_f32x8(&logits[at(lane, c0)..], width)
                    } else {
                        Lanes::ZERO
                    }
                });
                z[c0..c0 + ROW_LANES].copy_from_slice(&Lanes::transpose(rows));
            }
            softmax.compute(&z);
            let mut d = [Lanes::ZERO; MAX_CLASSES];
            let values = row_loss(block * ROWS_PER_BLOCK + group, &softmax, &mut d);
            total += values.as_array()[..lanes]
                .iter()
                .map(|&v| f64::from(v))
                .sum::<f64>();
            if let Some(grad) = grad.as_deref_mut() {
                for c0 in (0..classes).step_by(ROW_LANES) {
                    let width = ROW_LANES.min(classes - c0);
                    let rows = Lanes::transpose(std::array::from_fn(|k| d[c0 + k] * weight));
                    for (lane, row) in rows.iter().enumerate().take(lanes) {
                        let grad = &mut grad[at(lane, c0)..][..width];
                        let sum = load_f32x8(grad, width) + *row;
                        grad.copy_from_slice(&sum.as_array()[..width]);
                    }
                }
            }
        }
        total
    };
    let block = ROWS_PER_BLOCK * row_stride;
    let logits = &logits[..rows * row_stride];
    let partials: Vec<f64> = match grad {
        Some(grad) => logits
            .par_chunks(block)
            .zip(grad[..rows * row_stride].par_chunks_mut(block))
            .enumerate()
            .map(|(b, (l, g))| block_total(b, l, Some(g)))
            .collect(),
        None => logits
            .par_chunks(block)
            .enumerate()
            .map(|(b, l)| block_total(b, l, None))
            .collect(),
    };
    partials.iter().sum()
}

/// The mean over `rows` rows of a per-row loss (see [`sum_row_losses`], whose `row_loss` here
/// does not need the row index); adds `scale/rows` times the rows' gradients to `grad` when
/// given.
pub fn mean_row_loss(
    logits: &[f32],
    layout: RowLayout,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
    row_loss: impl Fn(&LaneSoftmax, &mut [Lanes; MAX_CLASSES]) -> Lanes + Sync,
) -> f32 {
    let total = sum_row_losses(
        logits,
        layout,
        rows,
        scale / rows as f32,
        grad,
        |_, softmax, d| row_loss(softmax, d),
    );
    (total / rows as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each lane's softmax matches the scalar formula, including a row whose probabilities
    /// underflow (finite log-probabilities) and rows of different scales.
    #[test]
    fn lanes_match_the_scalar_softmax() {
        let classes = 10;
        let rows: Vec<Vec<f32>> = (0..ROW_LANES)
            .map(|r| {
                (0..classes)
                    .map(|k| match r {
                        0 => [0.0, -200.0, 150.0][k % 3],
                        _ => ((r * 7 + k * 3) as f32 * 0.37).sin() * r as f32,
                    })
                    .collect()
            })
            .collect();
        let mut z = [Lanes::ZERO; MAX_CLASSES];
        for (k, zk) in z.iter_mut().take(classes).enumerate() {
            *zk = Lanes::from(std::array::from_fn::<f32, ROW_LANES, _>(|r| rows[r][k]));
        }
        let mut softmax = LaneSoftmax::new(classes);
        softmax.compute(&z);
        for (r, row) in rows.iter().enumerate() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
            for k in 0..classes {
                let log_p = f64::from(row[k] - max) - sum.ln();
                let (got_p, got_log_p) =
                    (softmax.p[k].as_array()[r], softmax.log_p[k].as_array()[r]);
                assert!(
                    (f64::from(got_p) - log_p.exp()).abs() < 1e-6,
                    "p row {r} k {k}"
                );
                assert!(
                    (f64::from(got_log_p) - log_p).abs() < 1e-5 * (1.0 + log_p.abs()),
                    "log p row {r} k {k}: {got_log_p} vs {log_p}"
                );
            }
        }
    }
}
