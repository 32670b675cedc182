//! The output-patch lowering, for stride-1 convolutions that keep the side and have fewer
//! output than input channels per group (the heads' grouped 32→8 convolutions): the patch
//! matrix is taken of the narrower tensor, the output gradient. With the transposed convolution
//! T (Cout→Cin, padding k−1−p, taps flipped: t′ = k²−1−t) and
//! `M_g[ci][t′·Cout_g + co] = W_g[t][ci][co]`:
//! `dx_g = im2col_T(dout)_g · M_gᵀ`, `dW_g` is `x_gᵀ · im2col_T(dout)_g` read back through the
//! same index map, and the forward pass is the adjoint of that lowering:
//! `out = col2im_T(x_g · M_g) + b`. Both patch matrices are k²·Cout wide instead of k²·Cin,
//! and every product has a wide side (k²·Cout_g) instead of a Cout_g-wide one.
//!
//! The products are formed for a block of images at a time (about 1 MiB), so that in the
//! backward pass a block's patches feed the weight and the input gradient while they are still
//! in cache. For the same reason this lowering, alone, can read its input through a per-channel
//! map ([`ChannelAffine`]: the heads' batch norm and ReLU), applied to each block as it is read
//! instead of stored for the whole batch; [`super::MappedConv2d`] is the convolution that does.

use super::{ConvSpec, Geometry};
use crate::engine::channel_affine::ChannelAffine;
use crate::engine::conv::patches::{Padded, col2im_gather};
use crate::engine::matmul::{MatRef, matmul};
use crate::engine::param::Param;
use crate::engine::tensor::{Tensor, grad_chunks_per_task, sum_positions};
use rayon::prelude::*;

/// Bytes of patch rows one thread forms at a time in a blocked lowering: enough rows for
/// efficient products, few enough to stay in a core's L2 cache.
const PATCH_BLOCK_BYTES: usize = 1 << 20;

/// Per-task room in `scratch` for a block of `block_len` input values read through `map`, one
/// per task of `tasks`; empty slices when there is no map.
fn mapped_blocks<'a>(
    scratch: &'a mut Vec<f32>,
    map: Option<&ChannelAffine>,
    tasks: usize,
    block_len: usize,
) -> Vec<&'a mut [f32]> {
    match map {
        Some(_) => {
            scratch.resize(tasks * block_len, 0.0);
            scratch.chunks_mut(block_len).collect()
        }
        None => (0..tasks).map(|_| Default::default()).collect(),
    }
}

/// The rows of `input` as the convolution reads them: through `map` into `scratch` when there
/// is one, else as they are.
fn read_through<'a>(
    map: Option<&ChannelAffine>,
    input: &'a [f32],
    scratch: &'a mut [f32],
) -> &'a [f32] {
    match map {
        Some(map) => {
            let mapped = &mut scratch[..input.len()];
            map.apply(input, mapped);
            mapped
        }
        None => input,
    }
}

/// The output-patch lowering of one convolution, with its buffers.
#[derive(Debug, Clone)]
pub(super) struct OutputPatches {
    spec: ConvSpec,
    /// Per-task blocks of products (forward) or of the output gradient's patches (backward).
    cols: Vec<f32>,
    /// The weights rearranged as M by the last forward pass.
    patch_weights: Vec<f32>,
    /// Per-task blocks of the input read through a map.
    mapped: Vec<f32>,
}

impl OutputPatches {
    /// The lowering of `spec`, which must keep the side.
    pub(super) fn new(spec: ConvSpec) -> OutputPatches {
        assert!(
            spec.keeps_side(),
            "output patches need a side-keeping convolution: {spec:?}"
        );
        OutputPatches {
            spec,
            cols: Vec::new(),
            patch_weights: Vec::new(),
            mapped: Vec::new(),
        }
    }

    /// Calls `visit(w, m, mt)` for every weight with its index in W (`W_g[t][ci][co]`), in the
    /// output-patch weights M (`M_g[ci][t′·Cout_g + co]`, t′ = k²−1−t) and in their transpose
    /// (`Mᵀ_g[t′·Cout_g + co][ci]`, the layout the weight gradient is formed in).
    fn for_each_output_patch_weight(&self, mut visit: impl FnMut(usize, usize, usize)) {
        let spec = self.spec;
        let taps = spec.kernel * spec.kernel;
        let (gin, gout, gw) = (spec.group_in(), spec.group_out(), spec.group_weights());
        for g in 0..spec.groups {
            for t in 0..taps {
                for ci in 0..gin {
                    for co in 0..gout {
                        let column = (taps - 1 - t) * gout + co;
                        visit(
                            g * gw + (t * gin + ci) * gout + co,
                            g * gw + ci * taps * gout + column,
                            g * gw + column * gin + ci,
                        );
                    }
                }
            }
        }
    }

    /// Rearranges the weights into M, the output-patch weights, for this forward pass and its
    /// backward pass.
    fn set_output_patch_weights(&mut self, weight: &[f32]) {
        let mut m = std::mem::take(&mut self.patch_weights);
        m.resize(weight.len(), 0.0);
        self.for_each_output_patch_weight(|w, i, _| m[i] = weight[w]);
        self.patch_weights = m;
    }

    /// Images per block of output patches: the block's products (k²·Cout_g per input value)
    /// stay within [`PATCH_BLOCK_BYTES`].
    fn output_patch_block(&self, geo: &Geometry) -> usize {
        let row_bytes = self.spec.groups * self.spec.transposed().group_cols() * 4;
        (PATCH_BLOCK_BYTES / (geo.rows_per_image * row_bytes)).clamp(1, geo.per_task)
    }

    /// `out = col2im_T(map(x)_g · M_g) + b`, forming `map(x)` a block of images at a time when
    /// there is a map.
    pub(super) fn forward(
        &mut self,
        [weight, bias]: [&[f32]; 2],
        input: &Tensor,
        map: Option<&ChannelAffine>,
        out: &mut Tensor,
    ) {
        let spec = self.spec;
        let transposed = spec.transposed();
        let geo = Geometry::new(&spec, input.dims);
        let wide = transposed.group_cols();
        let row_len = spec.groups * wide;
        let block = self.output_patch_block(&geo);
        let block_len = block * geo.rows_per_image * row_len;
        let tasks = input.batch().div_ceil(geo.per_task);
        self.cols.resize(tasks * block_len, 0.0);
        self.set_output_patch_weights(weight);
        let (item_in, item_out) = (input.item_len(), geo.rows_per_image * spec.out_channels);
        let mapped = mapped_blocks(&mut self.mapped, map, tasks, block * item_in);
        let m = &self.patch_weights;
        self.cols
            .par_chunks_mut(block_len)
            .zip(out.data.par_chunks_mut(geo.per_task * item_out))
            .zip(input.data.par_chunks(geo.per_task * item_in))
            .zip(mapped)
            .for_each(|(((products, out), input), mapped)| {
                let blocks = out
                    .chunks_mut(block * item_out)
                    .zip(input.chunks(block * item_in));
                for (out, input) in blocks {
                    let input = read_through(map, input, mapped);
                    let rows = input.len() / spec.in_channels;
                    for g in 0..spec.groups {
                        matmul(
                            rows,
                            wide,
                            spec.group_in(),
                            MatRef::rows(input, g * spec.group_in(), spec.in_channels),
                            MatRef::rows(m, g * spec.group_weights(), wide),
                            products,
                            g * wide,
                            row_len,
                            false,
                        );
                    }
                    for (i, out) in out.chunks_exact_mut(item_out).enumerate() {
                        let products = &products[i * geo.rows_per_image * row_len..];
                        col2im_gather(&transposed, geo.side_in, products, bias, out);
                    }
                }
            });
    }

    /// The backward pass of output patches, block of images by block: the output gradient's
    /// patches of a block feed both the weight gradient and the input gradient while they are
    /// in cache.
    pub(super) fn backward(
        &mut self,
        [weight, bias]: [&mut Param; 2],
        (input, map): (&Tensor, Option<&ChannelAffine>),
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        let spec = self.spec;
        let transposed = spec.transposed();
        let geo = Geometry::new(&spec, input.dims);
        let wide = transposed.group_cols();
        let row_len = spec.groups * wide;
        let (cin, cout) = (spec.in_channels, spec.out_channels);
        let (item_in, item_out) = (geo.rows_per_image * cin, geo.rows_per_image * cout);
        let block = self.output_patch_block(&geo);
        let block_len = block * geo.rows_per_image * row_len;
        let tasks = input.batch().div_ceil(geo.per_task);
        // Only the weight gradient reads the input.
        let map = map.filter(|_| param_grads);
        let mapped = mapped_blocks(&mut self.mapped, map, tasks, block * item_in);
        let m = &self.patch_weights;
        let dinput_parts = grad_chunks_per_task(dinput, input.dims, geo.per_task);
        let partials: Vec<(Vec<f32>, Vec<f32>)> = self
            .cols
            .par_chunks_mut(block_len)
            .zip(dout.data.par_chunks(geo.per_task * item_out))
            .zip(input.data.par_chunks(geo.per_task * item_in))
            .zip(dinput_parts)
            .zip(mapped)
            .map(|((((patches, dout), input), mut dinput), mapped)| {
                // The weight gradient as Mᵀ per group, (patches_g)ᵀ·x_g: `gemm` forms a
                // row-major product through its transpose, so this puts Cin_g (32, two whole
                // 16-lane panels) rather than k²·Cout_g (72, four and a half) along its vector
                // side (docs/PERFORMANCE.md has the measurement).
                let mut dmt = vec![0.0; if param_grads { m.len() } else { 0 }];
                let mut padded = Padded::new(geo.side_out, cout, transposed.padding);
                for (b, (dout, input)) in dout
                    .chunks(block * item_out)
                    .zip(input.chunks(block * item_in))
                    .enumerate()
                {
                    for (i, dout) in dout.chunks_exact(item_out).enumerate() {
                        padded.load(dout);
                        padded.im2col(
                            &transposed,
                            geo.side_in,
                            &mut patches[i * geo.rows_per_image * row_len..],
                        );
                    }
                    let input = read_through(map, input, mapped);
                    let rows = input.len() / cin;
                    for g in 0..spec.groups {
                        if param_grads {
                            matmul(
                                wide,
                                spec.group_in(),
                                rows,
                                MatRef::transposed(patches, g * wide, row_len),
                                MatRef::rows(input, g * spec.group_in(), cin),
                                &mut dmt,
                                g * spec.group_weights(),
                                spec.group_in(),
                                true,
                            );
                        }
                        if let Some(dinput) = dinput.as_deref_mut() {
                            matmul(
                                rows,
                                spec.group_in(),
                                wide,
                                MatRef::rows(patches, g * wide, row_len),
                                MatRef::transposed(m, g * spec.group_weights(), wide),
                                &mut dinput[b * block * item_in..],
                                g * spec.group_in(),
                                cin,
                                false,
                            );
                        }
                    }
                }
                let db = if param_grads {
                    sum_positions(dout, cout)
                } else {
                    Vec::new()
                };
                (dmt, db)
            })
            .collect();
        if param_grads {
            let mut dw = vec![0.0; weight.value.len()];
            for (dmt, db) in partials {
                self.for_each_output_patch_weight(|w, _, i| dw[w] += dmt[i]);
                bias.accumulate_grad(&db);
            }
            weight.accumulate_grad(&dw);
        }
    }
}
