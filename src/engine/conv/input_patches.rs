//! The input-patch lowering (im2col): each output position is a row of the patch matrix `cols`
//! of the input (M = N·OH·OW rows; per group, k·k·Cin_g columns ordered (ky, kx, ci)), and
//! `out_g = cols_g · W_g + b`. Backward: `dW_g = cols_gᵀ · dout_g`, `db = Σ_rows dout`, and
//! `dx = col2im(dout_g · W_gᵀ)`. It applies to every convolution; the paper's networks use it
//! for conv1 (5×5, inside the input stem) and conv3 (stride 2).

use super::{ConvSpec, Geometry};
use crate::engine::conv::patches::Padded;
use crate::engine::matmul::{MatRef, matmul};
use crate::engine::param::Param;
use crate::engine::tensor::{Tensor, add_to_rows, sum_positions};
use rayon::prelude::*;

/// The input-patch lowering of one convolution, with its patch matrix.
#[derive(Debug, Clone)]
pub(super) struct InputPatches {
    spec: ConvSpec,
    /// The patch matrix of the last forward pass, reused as the input gradient's rows by the
    /// backward pass.
    cols: Vec<f32>,
}

impl InputPatches {
    pub(super) fn new(spec: ConvSpec) -> InputPatches {
        InputPatches {
            spec,
            cols: Vec::new(),
        }
    }

    /// `out = cols · W + b`, keeping `cols` for the backward pass.
    pub(super) fn forward(
        &mut self,
        [weight, bias]: [&[f32]; 2],
        input: &Tensor,
        out: &mut Tensor,
    ) {
        let spec = self.spec;
        let geo = Geometry::new(&spec, input.dims);
        let row_len = spec.groups * spec.group_cols();
        self.cols
            .resize(input.batch() * geo.rows_per_image * row_len, 0.0);
        let item_in = input.item_len();
        self.cols
            .par_chunks_mut(geo.per_task * geo.rows_per_image * row_len)
            .zip(
                out.data
                    .par_chunks_mut(geo.per_task * geo.rows_per_image * spec.out_channels),
            )
            .zip(input.data.par_chunks(geo.per_task * item_in))
            .for_each(|((cols, out), input)| {
                let images = input.len() / item_in;
                let mut padded = Padded::new(geo.side_in, spec.in_channels, spec.padding);
                for (i, image) in input.chunks_exact(item_in).enumerate() {
                    padded.load(image);
                    padded.im2col(
                        &spec,
                        geo.side_out,
                        &mut cols[i * geo.rows_per_image * row_len..],
                    );
                }
                let rows = images * geo.rows_per_image;
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
                add_to_rows(out, bias);
            });
    }

    /// `dW = colsᵀ · dout` and `db = Σ_rows dout` (added to the parameters' gradients when
    /// `param_grads`), then `dx = col2im(dout · Wᵀ)` into `dinput` when one is given; `dims` are
    /// the forward pass's input's.
    pub(super) fn backward(
        &mut self,
        [weight, bias]: [&mut Param; 2],
        dims: [usize; 4],
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        let spec = self.spec;
        let geo = Geometry::new(&spec, dims);
        let row_len = spec.groups * spec.group_cols();
        let cout = spec.out_channels;
        let task_rows = geo.per_task * geo.rows_per_image;
        if param_grads {
            let partials: Vec<(Vec<f32>, Vec<f32>)> = self
                .cols
                .par_chunks(task_rows * row_len)
                .zip(dout.data.par_chunks(task_rows * cout))
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
                    (dw, sum_positions(dout, cout))
                })
                .collect();
            for (dw, db) in partials {
                weight.accumulate_grad(&dw);
                bias.accumulate_grad(&db);
            }
        }
        let Some(dinput) = dinput else {
            return;
        };
        dinput.resize(dims);
        // The input gradient's im2col-shaped rows reuse the forward's im2col buffer, which the
        // weight gradient above no longer needs.
        let weight = &weight.value;
        let item_len = dims[1] * dims[2] * dims[3];
        dinput
            .data
            .par_chunks_mut(geo.per_task * item_len)
            .zip(dout.data.par_chunks(task_rows * cout))
            .zip(self.cols.par_chunks_mut(task_rows * row_len))
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
                let mut padded = Padded::new(geo.side_in, spec.in_channels, spec.padding);
                for (i, dinput) in dinput.chunks_exact_mut(item_len).enumerate() {
                    let dcols = &dcols[i * geo.rows_per_image * row_len..];
                    padded.col2im(&spec, dcols, geo.side_out, dinput);
                }
            });
    }
}
