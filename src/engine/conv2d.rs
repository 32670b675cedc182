//! 2-D convolution (cross-correlation, as PyTorch) with bias and groups, NHWC, by im2col + GEMM.
//!
//! Forward: each output position is a row of the im2col matrix `cols` (M = N·OH·OW rows; per
//! group, k·k·Cin/groups columns ordered (ky, kx, ci)), and `out_g = cols_g · W_g + b`.
//! Backward: `dW_g = cols_gᵀ · dout_g`, `db = Σ_rows dout`, and `dx = col2im(dout_g · W_gᵀ)`.
//! Weights are stored `[group][ky][kx][ci][co]` so that W_g is a row-major (k·k·Cin_g)×Cout_g
//! matrix.

use crate::engine::matmul::{MatRef, matmul};
use crate::engine::param::Param;
use crate::engine::tensor::{Tensor, items_per_task};
use rayon::prelude::*;

/// Hyper-parameters of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Channel groups (input and output channels split into this many independent blocks).
    pub groups: usize,
}

impl ConvSpec {
    /// Output side for an input side.
    pub fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Input channels per group.
    pub fn group_in(&self) -> usize {
        self.in_channels / self.groups
    }

    /// Output channels per group.
    pub fn group_out(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Columns of the im2col matrix per group: k·k·Cin_g.
    pub fn group_cols(&self) -> usize {
        self.kernel * self.kernel * self.group_in()
    }

    /// Weights per group.
    pub fn group_weights(&self) -> usize {
        self.group_cols() * self.group_out()
    }

    /// Fan-in of one output (for initialization).
    pub fn fan_in(&self) -> usize {
        self.group_cols()
    }
}

/// A convolution layer with its parameters and the activations its backward needs.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Shape of the convolution.
    pub spec: ConvSpec,
    /// Weights, `[group][ky][kx][ci][co]`.
    pub weight: Param,
    /// Bias, one per output channel.
    pub bias: Param,
    /// im2col of the last forward input, `[row][group][ky][kx][ci]`.
    cols: Vec<f32>,
    /// Dimensions of the last forward input.
    input_dims: [usize; 4],
}

/// Walks row (oy, ox) of the im2col matrix as runs it shares with the input: calls
/// `run(row_offset, input_offset, len)` for each, with `input_offset = None` where the taps fall
/// in the zero padding. Without groups, the taps of one kernel row read one contiguous stretch
/// of the input, so they form a single run.
fn for_each_run(
    spec: &ConvSpec,
    side_in: [usize; 2],
    oy: usize,
    ox: usize,
    mut run: impl FnMut(usize, Option<usize>, usize),
) {
    let (h, w, c) = (side_in[0], side_in[1], spec.in_channels);
    let (k, p) = (spec.kernel as isize, spec.padding as isize);
    let (y0, x0) = (
        (oy * spec.stride) as isize - p,
        (ox * spec.stride) as isize - p,
    );
    let gin = spec.group_in();
    let mut at = 0;
    for g in 0..spec.groups {
        for ky in 0..k {
            let iy = y0 + ky;
            let row_inside = iy >= 0 && iy < h as isize;
            // Taps kx0..kx1 of this kernel row fall inside the input.
            let kx0 = (-x0).clamp(0, k);
            let kx1 = (w as isize - x0).clamp(kx0, k);
            if !row_inside || kx0 == kx1 {
                run(at, None, k as usize * gin);
            } else if spec.groups == 1 {
                let (kx0, kx1) = (kx0 as usize, kx1 as usize);
                run(at, None, kx0 * c);
                run(
                    at + kx0 * c,
                    Some((iy as usize * w + (x0 + kx0 as isize) as usize) * c),
                    (kx1 - kx0) * c,
                );
                run(at + kx1 * c, None, (k as usize - kx1) * c);
            } else {
                for kx in 0..k {
                    let offset = at + kx as usize * gin;
                    let inside = kx >= kx0 && kx < kx1;
                    let src = inside.then(|| (iy as usize * w + (x0 + kx) as usize) * c + g * gin);
                    run(offset, src, gin);
                }
            }
            at += k as usize * gin;
        }
    }
}

/// Writes the im2col rows of one image: row (oy, ox), then per group the k×k×Cin_g patch.
fn im2col_image(
    spec: &ConvSpec,
    input: &[f32],
    side_in: [usize; 2],
    side_out: [usize; 2],
    cols: &mut [f32],
) {
    let row_len = spec.groups * spec.group_cols();
    for oy in 0..side_out[0] {
        for ox in 0..side_out[1] {
            let row = &mut cols[(oy * side_out[1] + ox) * row_len..][..row_len];
            for_each_run(spec, side_in, oy, ox, |at, src, len| match src {
                Some(s) => row[at..at + len].copy_from_slice(&input[s..s + len]),
                None => row[at..at + len].fill(0.0),
            });
        }
    }
}

/// Adds the im2col-shaped gradient rows of one image back onto its input gradient.
fn col2im_image(
    spec: &ConvSpec,
    dcols: &[f32],
    side_in: [usize; 2],
    side_out: [usize; 2],
    dinput: &mut [f32],
) {
    let row_len = spec.groups * spec.group_cols();
    for oy in 0..side_out[0] {
        for ox in 0..side_out[1] {
            let row = &dcols[(oy * side_out[1] + ox) * row_len..][..row_len];
            for_each_run(spec, side_in, oy, ox, |at, src, len| {
                if let Some(s) = src {
                    dinput[s..s + len]
                        .iter_mut()
                        .zip(&row[at..at + len])
                        .for_each(|(d, g)| *d += g);
                }
            });
        }
    }
}

impl Conv2d {
    /// A convolution with the given parameters (weights in `[group][ky][kx][ci][co]` order).
    pub fn new(name: &str, spec: ConvSpec, weight: Vec<f32>, bias: Vec<f32>) -> Conv2d {
        assert!(
            spec.in_channels.is_multiple_of(spec.groups)
                && spec.out_channels.is_multiple_of(spec.groups)
        );
        let wdims = vec![
            spec.groups,
            spec.kernel,
            spec.kernel,
            spec.group_in(),
            spec.group_out(),
        ];
        Conv2d {
            spec,
            weight: Param::new(&format!("{name}.weight"), wdims, weight),
            bias: Param::new(&format!("{name}.bias"), vec![spec.out_channels], bias),
            cols: Vec::new(),
            input_dims: [0; 4],
        }
    }

    /// Output dimensions for an input of `dims`.
    pub fn output_dims(&self, dims: [usize; 4]) -> [usize; 4] {
        [
            dims[0],
            self.spec.out_side(dims[1]),
            self.spec.out_side(dims[2]),
            self.spec.out_channels,
        ]
    }

    /// Forward pass into `out`; keeps the im2col matrix for the backward pass.
    pub fn forward(&mut self, input: &Tensor, out: &mut Tensor) {
        let spec = self.spec;
        assert_eq!(input.channels(), spec.in_channels, "conv input channels");
        let out_dims = self.output_dims(input.dims);
        let side_in = [input.dims[1], input.dims[2]];
        let side_out = [out_dims[1], out_dims[2]];
        let rows_per_image = side_out[0] * side_out[1];
        let row_len = spec.groups * spec.group_cols();
        let per_task = items_per_task(input.batch());
        self.cols
            .resize(input.batch() * rows_per_image * row_len, 0.0);
        out.resize(out_dims);
        let (weight, bias) = (&self.weight.value, &self.bias.value);
        let item_in = input.item_len();
        self.cols
            .par_chunks_mut(per_task * rows_per_image * row_len)
            .zip(
                out.data
                    .par_chunks_mut(per_task * rows_per_image * spec.out_channels),
            )
            .zip(input.data.par_chunks(per_task * item_in))
            .for_each(|((cols, out), input)| {
                let images = input.len() / item_in;
                for i in 0..images {
                    im2col_image(
                        &spec,
                        &input[i * item_in..],
                        side_in,
                        side_out,
                        &mut cols[i * rows_per_image * row_len..],
                    );
                }
                let rows = images * rows_per_image;
                for g in 0..spec.groups {
                    matmul(
                        rows,
                        spec.group_out(),
                        spec.group_cols(),
                        MatRef::rows(cols, g * spec.group_cols(), row_len),
                        MatRef::rows(weight, g * spec.group_weights(), spec.group_out()),
                        out,
                        g * spec.group_out(),
                        spec.out_channels,
                        false,
                    );
                }
                for row in out.chunks_exact_mut(spec.out_channels) {
                    row.iter_mut().zip(bias).for_each(|(o, b)| *o += b);
                }
            });
        self.input_dims = input.dims;
    }

    /// Backward pass from `dout`. Adds the parameter gradients when `param_grads` is set and
    /// writes the input gradient into `dinput` when one is given. Runs once per forward: the
    /// input gradient reuses the im2col buffer as scratch.
    pub fn backward(&mut self, dout: &Tensor, param_grads: bool, dinput: Option<&mut Tensor>) {
        let spec = self.spec;
        let dims = self.input_dims;
        let side_in = [dims[1], dims[2]];
        let side_out = [dout.dims[1], dout.dims[2]];
        let rows_per_image = side_out[0] * side_out[1];
        let row_len = spec.groups * spec.group_cols();
        let per_task = items_per_task(dims[0]);
        let cout = spec.out_channels;
        if param_grads {
            let partials: Vec<(Vec<f32>, Vec<f32>)> = self
                .cols
                .par_chunks(per_task * rows_per_image * row_len)
                .zip(dout.data.par_chunks(per_task * rows_per_image * cout))
                .map(|(cols, dout)| {
                    let rows = dout.len() / cout;
                    let mut dw = vec![0.0; spec.groups * spec.group_weights()];
                    for g in 0..spec.groups {
                        matmul(
                            spec.group_cols(),
                            spec.group_out(),
                            rows,
                            MatRef::transposed(cols, g * spec.group_cols(), row_len),
                            MatRef::rows(dout, g * spec.group_out(), cout),
                            &mut dw,
                            g * spec.group_weights(),
                            spec.group_out(),
                            false,
                        );
                    }
                    let mut db = vec![0.0; cout];
                    for row in dout.chunks_exact(cout) {
                        db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
                    }
                    (dw, db)
                })
                .collect();
            for (dw, db) in partials {
                self.weight.accumulate_grad(&dw);
                self.bias.accumulate_grad(&db);
            }
        }
        let Some(dinput) = dinput else {
            return;
        };
        dinput.resize(dims);
        dinput.zero();
        // The input gradient's im2col-shaped rows reuse the forward's im2col buffer, which the
        // weight gradient above no longer needs.
        let weight = &self.weight.value;
        let item_len = dims[1] * dims[2] * dims[3];
        dinput
            .data
            .par_chunks_mut(per_task * item_len)
            .zip(dout.data.par_chunks(per_task * rows_per_image * cout))
            .zip(
                self.cols
                    .par_chunks_mut(per_task * rows_per_image * row_len),
            )
            .for_each(|((dinput, dout), dcols)| {
                let rows = dout.len() / cout;
                for g in 0..spec.groups {
                    matmul(
                        rows,
                        spec.group_cols(),
                        spec.group_out(),
                        MatRef::rows(dout, g * spec.group_out(), cout),
                        MatRef::transposed(weight, g * spec.group_weights(), spec.group_out()),
                        dcols,
                        g * spec.group_cols(),
                        row_len,
                        false,
                    );
                }
                for i in 0..rows / rows_per_image {
                    col2im_image(
                        &spec,
                        &dcols[i * rows_per_image * row_len..],
                        side_in,
                        side_out,
                        &mut dinput[i * item_len..],
                    );
                }
            });
    }
}
