//! BatchNorm2d over the channels of an NHWC tensor, with PyTorch's semantics.
//!
//! Training: per channel, mean μ and biased variance σ² over N·H·W; `x̂ = (x − μ)/√(σ² + ε)`,
//! `y = γ·x̂ + β`; running stats `r ← (1 − m)·r + m·s` with the unbiased variance
//! `σ²·n/(n − 1)`. Backward: `dγ = Σ dy·x̂`, `dβ = Σ dy`,
//! `dx = γ/√(σ² + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))`.
//! Evaluation: the running stats replace the batch stats.
//! The forward pass keeps only μ and 1/σ; the backward pass recomputes x̂ from the input, which
//! the caller keeps anyway, instead of reading a stored copy.
//! A layer built with [`BatchNorm2d::with_relu`] applies the ReLU that follows it in the same
//! pass: it outputs `max(0, y)`, and its backward uses `dy·[y > 0]`, with `y > 0` recomputed
//! from x̂ as `γ·x̂ + β > 0`, so no pass of its own and no stored output.
//! A following layer may instead read its input through the forward pass as a per-channel map
//! ([`BatchNorm2d::train_map`]), so that the output is never stored at all.

use crate::engine::channel_affine::ChannelAffine;
use crate::engine::param::Param;
use crate::engine::tensor::{ITEMS_PER_TASK, Tensor};
use rayon::prelude::*;

/// PyTorch's default ε.
pub const EPS: f32 = 1e-5;
/// PyTorch's default running-average momentum.
pub const MOMENTUM: f32 = 0.1;

/// A BatchNorm2d layer.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    /// Scale γ.
    pub gamma: Param,
    /// Shift β.
    pub beta: Param,
    /// Running mean.
    pub running_mean: Vec<f32>,
    /// Running (unbiased) variance.
    pub running_var: Vec<f32>,
    /// Batch mean μ of the last training forward.
    mean: Vec<f32>,
    /// 1/√(σ² + ε) of the last training forward.
    inv_std: Vec<f32>,
    /// Whether the ReLU that follows is fused in.
    relu: bool,
}

/// Rows summed in f32 before the block's sums join the f64 totals: short enough that f32
/// rounding stays near one ulp, long enough that the inner loop runs vectorized.
const BLOCK_ROWS: usize = 64;

/// Element-wise sum; partial sums are combined in chunk order, so results do not depend on
/// rayon's scheduling.
fn add_vectors(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    a.iter().zip(&b).map(|(x, y)| x + y).collect()
}

/// Rows per parallel task of [`channel_sums`]: a fixed count, so that the order of the f64
/// additions, and with it every bit of the sums, is the same for any number of threads.
const TASK_ROWS: usize = 16 * BLOCK_ROWS;

/// Sums over the rows of two channels-last buffers of the same shape (`sums` of them: one or two
/// per channel), computed in parallel: `add_row(sums, x_row, y_row)` adds one row's terms to
/// the f32 sums of a block of rows, the blocks are totalled in f64 per task of [`TASK_ROWS`]
/// rows, and the tasks' totals are added in task order.
fn channel_sums(
    x: &[f32],
    y: &[f32],
    channels: usize,
    sums: usize,
    add_row: impl Fn(&mut [f32], &[f32], &[f32]) + Sync,
) -> Vec<f64> {
    let chunk = TASK_ROWS * channels;
    x.par_chunks(chunk)
        .zip(y.par_chunks(chunk))
        .map(|(xs, ys)| {
            let mut total = vec![0f64; sums];
            let mut block = vec![0f32; sums];
            let block_len = BLOCK_ROWS * channels;
            for (xb, yb) in xs.chunks(block_len).zip(ys.chunks(block_len)) {
                block.fill(0.0);
                for (xr, yr) in xb.chunks_exact(channels).zip(yb.chunks_exact(channels)) {
                    add_row(&mut block, xr, yr);
                }
                total
                    .iter_mut()
                    .zip(&block)
                    .for_each(|(t, &b)| *t += f64::from(b));
            }
            total
        })
        .collect::<Vec<_>>()
        .into_iter()
        .fold(vec![0f64; sums], add_vectors)
}

/// Writes `map(input)` into `out`, in parallel.
pub(super) fn apply_map(map: &ChannelAffine, input: &Tensor, out: &mut Tensor) {
    let rows = map.channels() * 1024;
    out.resize(input.dims);
    out.data
        .par_chunks_mut(rows)
        .zip(input.data.par_chunks(rows))
        .for_each(|(out, x)| map.apply(x, out));
}

/// The gradient `g` of a fused ReLU's output, passed back where its input `y` was positive
/// (everywhere without a fused ReLU). A select, so the loops that call it stay vectorized.
#[inline(always)]
fn through_relu(relu: bool, g: f32, y: f32) -> f32 {
    if !relu || y > 0.0 { g } else { 0.0 }
}

impl BatchNorm2d {
    /// γ = 1, β = 0, running mean 0 and variance 1, as PyTorch initializes it.
    pub fn new(name: &str, channels: usize) -> BatchNorm2d {
        BatchNorm2d {
            gamma: Param::new(
                &format!("{name}.weight"),
                vec![channels],
                vec![1.0; channels],
            ),
            beta: Param::new(&format!("{name}.bias"), vec![channels], vec![0.0; channels]),
            running_mean: vec![0.0; channels],
            running_var: vec![1.0; channels],
            mean: Vec::new(),
            inv_std: Vec::new(),
            relu: false,
        }
    }

    /// A batch norm followed by a ReLU, the two computed as one layer.
    pub fn with_relu(name: &str, channels: usize) -> BatchNorm2d {
        BatchNorm2d {
            relu: true,
            ..BatchNorm2d::new(name, channels)
        }
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.running_mean.len()
    }

    /// Batch mean and 1/√(σ² + ε) per channel; updates the running statistics.
    fn batch_statistics(&mut self, input: &Tensor) -> (Vec<f32>, Vec<f32>) {
        let c = self.channels();
        assert_eq!(input.channels(), c, "batch norm channels");
        let n = input.rows() as f64;
        let x = &input.data;
        // One pass for the shifted sums Σ (x − K) and Σ (x − K)², with K the first row's value
        // of each channel: `μ = K + S₁/n`, `σ² = S₂/n − (S₁/n)²`. K is one of the channel's
        // values, so for data far from zero the sums stay small and `σ²` does not come from
        // the cancellation of two huge numbers (the test checks an offset of 1000 and an
        // outlying K).
        let shift: Vec<f32> = x[..c].to_vec();
        let sums = channel_sums(x, x, c, 2 * c, |s, xr, _| {
            let (s1, s2) = s.split_at_mut(c);
            let (s1, s2, xr, shift) = (&mut s1[..c], &mut s2[..c], &xr[..c], &shift[..c]);
            for ch in 0..c {
                let d = xr[ch] - shift[ch];
                s1[ch] += d;
                s2[ch] += d * d;
            }
        });
        let (shifted_mean, shifted_square) = sums.split_at(c);
        let mean: Vec<f64> = (0..c)
            .map(|ch| f64::from(shift[ch]) + shifted_mean[ch] / n)
            .collect();
        let var: Vec<f64> = (0..c)
            .map(|ch| (shifted_square[ch] / n - (shifted_mean[ch] / n).powi(2)).max(0.0))
            .collect();
        let mean32: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
        for ch in 0..c {
            let unbiased = var[ch] * n / (n - 1.0).max(1.0);
            self.running_mean[ch] =
                (1.0 - MOMENTUM) * self.running_mean[ch] + MOMENTUM * mean[ch] as f32;
            self.running_var[ch] =
                (1.0 - MOMENTUM) * self.running_var[ch] + MOMENTUM * unbiased as f32;
        }
        let inv_std = var
            .iter()
            .map(|v| (1.0 / (v + f64::from(EPS)).sqrt()) as f32)
            .collect();
        (mean32, inv_std)
    }

    /// Writes x̂ (normalized, before γ and β) into `out`: with batch statistics (updating the
    /// running ones) when `train`, with the running statistics otherwise. For layers that fold
    /// γ and β into what follows.
    pub fn normalize(&mut self, input: &Tensor, train: bool, out: &mut Tensor) {
        let (mean, inv_std) = if train {
            self.batch_statistics(input)
        } else {
            let inv = self
                .running_var
                .iter()
                .map(|v| 1.0 / (v + EPS).sqrt())
                .collect();
            (self.running_mean.clone(), inv)
        };
        // x̂ = (x − μ)/σ = x·(1/σ) − μ/σ.
        let shift = mean.iter().zip(&inv_std).map(|(m, i)| -m * i).collect();
        let map = ChannelAffine {
            scale: inv_std,
            shift,
            relu: false,
        };
        apply_map(&map, input, out);
    }

    /// The map `y = γ·(x − μ)/σ + β = x·s + (β − μ·s)` with `s = γ/σ`, then the fused ReLU.
    fn map(&self, mean: &[f32], scale: Vec<f32>) -> ChannelAffine {
        let shift = (0..self.channels())
            .map(|ch| self.beta.value[ch] - mean[ch] * scale[ch])
            .collect();
        ChannelAffine {
            scale,
            shift,
            relu: self.relu,
        }
    }

    /// The training-mode forward pass as a map, for a layer that reads its input through it:
    /// computes the batch statistics of `input` and updates the running ones, as
    /// `BatchNorm2d::forward_train` (`engine/unfused.rs`) does before it applies the map.
    pub fn train_map(&mut self, input: &Tensor) -> ChannelAffine {
        let (mean, inv_std) = self.batch_statistics(input);
        let scale = (0..self.channels())
            .map(|ch| self.gamma.value[ch] * inv_std[ch])
            .collect();
        let map = self.map(&mean, scale);
        (self.mean, self.inv_std) = (mean, inv_std);
        map
    }

    /// The evaluation-mode forward pass as a map, with the running statistics.
    pub fn eval_map(&self) -> ChannelAffine {
        let scale = (0..self.channels())
            .map(|ch| self.gamma.value[ch] / (self.running_var[ch] + EPS).sqrt())
            .collect();
        self.map(&self.running_mean, scale)
    }

    /// Backward of the last training forward, given its `input`. Adds dγ, dβ when
    /// `param_grads`; writes dx into `dinput` when one is given.
    pub fn backward(
        &mut self,
        input: &Tensor,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        let c = self.channels();
        assert_eq!(input.dims, dout.dims, "batch norm backward shapes");
        let n = dout.rows() as f64;
        let (mean, inv_std) = (&self.mean[..c], &self.inv_std[..c]);
        let (gamma, beta) = (self.gamma.value.clone(), self.beta.value.clone());
        let (gamma, beta, relu) = (&gamma[..c], &beta[..c], self.relu);
        // One pass for both sums: dβ = Σ dy (first c), dγ = Σ dy·x̂ (last c).
        let sums = channel_sums(&dout.data, &input.data, c, 2 * c, |s, gr, xr| {
            let (sb, sg) = s.split_at_mut(c);
            let (sb, sg, gr, xr) = (&mut sb[..c], &mut sg[..c], &gr[..c], &xr[..c]);
            for ch in 0..c {
                let h = (xr[ch] - mean[ch]) * inv_std[ch];
                let g = through_relu(relu, gr[ch], gamma[ch] * h + beta[ch]);
                sb[ch] += g;
                sg[ch] += g * h;
            }
        });
        let (dbeta, dgamma) = sums.split_at(c);
        if param_grads {
            let dg: Vec<f32> = dgamma.iter().map(|&v| v as f32).collect();
            let db: Vec<f32> = dbeta.iter().map(|&v| v as f32).collect();
            self.gamma.accumulate_grad(&dg);
            self.beta.accumulate_grad(&db);
        }
        let Some(dx) = dinput else {
            return;
        };
        let mean_dy: Vec<f32> = dbeta.iter().map(|s| (s / n) as f32).collect();
        let mean_dy_xhat: Vec<f32> = dgamma.iter().map(|s| (s / n) as f32).collect();
        let scale: Vec<f32> = (0..c).map(|ch| gamma[ch] * inv_std[ch]).collect();
        let (scale, mean_dy, mean_dy_xhat) = (&scale[..c], &mean_dy[..c], &mean_dy_xhat[..c]);
        dx.resize(dout.dims);
        let rows_per_task = ITEMS_PER_TASK * dout.item_len();
        dx.data
            .par_chunks_mut(rows_per_task)
            .zip(dout.data.par_chunks(rows_per_task))
            .zip(input.data.par_chunks(rows_per_task))
            .for_each(|((dx, dy), x)| {
                for ((dxr, dyr), xr) in dx
                    .chunks_exact_mut(c)
                    .zip(dy.chunks_exact(c))
                    .zip(x.chunks_exact(c))
                {
                    let (dxr, dyr, xr) = (&mut dxr[..c], &dyr[..c], &xr[..c]);
                    for ch in 0..c {
                        let h = (xr[ch] - mean[ch]) * inv_std[ch];
                        let g = through_relu(relu, dyr[ch], gamma[ch] * h + beta[ch]);
                        dxr[ch] = scale[ch] * (g - mean_dy[ch] - h * mean_dy_xhat[ch]);
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In evaluation mode the map uses the running statistics:
    /// `y = max(0, γ·(x − μ_r)/√(σ_r² + ε) + β)`, for values on both sides of the ReLU.
    #[test]
    fn eval_map_normalizes_with_the_running_statistics() {
        let mut bn = BatchNorm2d::with_relu("bn", 2);
        bn.running_mean = vec![1.0, -2.0];
        bn.running_var = vec![4.0, 0.25];
        bn.gamma.value = vec![3.0, -1.0];
        bn.beta.value = vec![0.5, 0.25];
        let x = [3.0, -2.5, -1.0, -1.0];
        let mut y = [0.0; 4];
        bn.eval_map().apply(&x, &mut y);
        for (i, (&x, &y)) in x.iter().zip(&y).enumerate() {
            let ch = i % 2;
            let want = bn.gamma.value[ch] * (x - bn.running_mean[ch])
                / (bn.running_var[ch] + EPS).sqrt()
                + bn.beta.value[ch];
            assert!((y - want.max(0.0)).abs() < 1e-6, "value {i}: {y} vs {want}");
        }
        assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0));
    }

    /// The one-pass shifted sums give the batch mean and variance of channels far from zero
    /// (offset 1000, spread 0.01) and of a channel whose first value is an outlier, as a
    /// two-pass f64 computation does. With the running statistics started at 0, one update
    /// leaves them at `momentum ×` the batch's mean and unbiased variance.
    #[test]
    fn batch_statistics_match_two_pass_f64() {
        let (rows, c) = (5000, 3);
        let value = |r: usize, ch: usize| -> f32 {
            let wave = ((r * 7 + ch * 13) as f32 * 0.61).sin();
            match ch {
                0 => 1000.0 + 0.01 * wave,
                1 => wave,
                _ if r == 0 => 50.0,
                _ => -3.0 + 2.0 * wave,
            }
        };
        let x = Tensor::from_vec(
            [rows, 1, 1, c],
            (0..rows * c).map(|i| value(i / c, i % c)).collect(),
        );
        let mut bn = BatchNorm2d::new("bn", c);
        bn.running_var = vec![0.0; c];
        bn.forward_train(&x, &mut Tensor::empty());
        let momentum = f64::from(MOMENTUM);
        for ch in 0..c {
            let xs: Vec<f64> = (0..rows).map(|r| f64::from(value(r, ch))).collect();
            let mean = xs.iter().sum::<f64>() / rows as f64;
            let var = xs.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (rows - 1) as f64;
            let got_mean = f64::from(bn.running_mean[ch]) / momentum;
            let got_var = f64::from(bn.running_var[ch]) / momentum;
            assert!(
                (got_mean - mean).abs() <= 1e-6 * mean.abs().max(1.0),
                "channel {ch} mean: {got_mean} vs {mean}"
            );
            assert!(
                (got_var - var).abs() <= 1e-4 * var,
                "channel {ch} variance: {got_var} vs {var}"
            );
        }
    }
}
