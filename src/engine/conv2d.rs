//! 2-D convolution (cross-correlation, as PyTorch) with bias and groups, NHWC, lowered to matrix
//! products in one of three ways: 3×3 stride-1 convolutions without groups by Winograd
//! F(4×4, 3×3) (`engine::winograd`), the others by input or output patches.
//!
//! Input patches (im2col): each output position is a row of the patch matrix `cols` of the
//! input (M = N·OH·OW rows; per group, k·k·Cin_g columns ordered (ky, kx, ci)), and
//! `out_g = cols_g · W_g + b`. Backward: `dW_g = cols_gᵀ · dout_g`, `db = Σ_rows dout`, and
//! `dx = col2im(dout_g · W_gᵀ)`.
//!
//! Output patches, for stride-1 convolutions that keep the side and have fewer output than
//! input channels per group (the heads' 32→8 convolutions): the patch matrix is taken of the
//! narrower tensor, the output gradient. With the transposed convolution T (Cout→Cin, padding
//! k−1−p, taps flipped: t′ = k²−1−t) and `M_g[ci][t′·Cout_g + co] = W_g[t][ci][co]`:
//! `dx_g = im2col_T(dout)_g · M_gᵀ`, `dW_g` is `x_gᵀ · im2col_T(dout)_g` read back through the
//! same index map, and the forward pass is the adjoint of that lowering:
//! `out = col2im_T(x_g · M_g) + b`. Both patch matrices are k²·Cout wide instead of k²·Cin, and
//! every product has a wide side (k²·Cout_g) instead of a Cout_g-wide one. They are formed for
//! a block of images at a time (about 1 MiB), so that in the backward pass a block's patches feed
//! the weight and the input gradient while they are still in cache. This lowering can also read
//! its input through a per-channel map (`engine::channel_affine`, the heads' batch norm and
//! ReLU), applied to each block of images as it is read instead of stored for the whole batch.
//!
//! Weights are stored `[group][ky][kx][ci][co]` so that W_g is a row-major (k·k·Cin_g)×Cout_g
//! matrix.

use crate::engine::channel_affine::ChannelAffine;
use crate::engine::im2col::{Padded, col2im_gather};
use crate::engine::matmul::{MatRef, matmul};
use crate::engine::param::Param;
use crate::engine::tensor::{
    Tensor, add_to_rows, grad_chunks_per_task, items_per_task, sum_positions,
};
use crate::engine::winograd::{self, Winograd};
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

    /// The transposed convolution of a stride-1 convolution: Cout → Cin with padding k−1−p,
    /// whose forward pass (with flipped taps) is this convolution's input gradient.
    fn transposed(&self) -> ConvSpec {
        ConvSpec {
            in_channels: self.out_channels,
            out_channels: self.in_channels,
            padding: self.kernel - 1 - self.padding,
            ..*self
        }
    }
}

/// How a convolution is lowered to matrix products (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lowering {
    /// Patches of the input (im2col), k²·Cin_g wide.
    InputPatches,
    /// Patches of the output gradient, k²·Cout_g wide.
    OutputPatches,
    /// Winograd F(4×4, 3×3): 3.1× fewer multiplies than either kind of patches on the paper's
    /// 14×14 and 7×7 maps.
    Winograd,
}

impl Lowering {
    /// The cheapest lowering for `spec`: Winograd where it applies, else output patches when
    /// they apply and are narrower, else input patches.
    pub fn for_spec(spec: &ConvSpec) -> Lowering {
        let keeps_side = spec.stride == 1 && 2 * spec.padding + 1 == spec.kernel;
        if winograd::applies(spec) {
            Lowering::Winograd
        } else if keeps_side && spec.group_out() < spec.group_in() {
            Lowering::OutputPatches
        } else {
            Lowering::InputPatches
        }
    }
}

/// A convolution layer with its parameters and the activations its backward needs.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Shape of the convolution.
    pub spec: ConvSpec,
    /// How the products are formed; [`Lowering::for_spec`] unless a test picks one.
    pub lowering: Lowering,
    /// Weights, `[group][ky][kx][ci][co]`.
    pub weight: Param,
    /// Bias, one per output channel.
    pub bias: Param,
    /// The patch matrix of the last forward (input patches) or its scratch (output patches).
    cols: Vec<f32>,
    /// The weights rearranged for output patches, by the last forward (output patches only).
    patch_weights: Vec<f32>,
    /// Per-task blocks of the input read through a map (output patches only).
    mapped: Vec<f32>,
    /// The Winograd form's transformed weights, input and scratch (Winograd only).
    winograd: Winograd,
    /// Dimensions of the last forward input.
    input_dims: [usize; 4],
}

/// Sizes shared by the passes of one convolution on one input.
struct Geometry {
    side_in: [usize; 2],
    side_out: [usize; 2],
    /// Output positions per image.
    rows_per_image: usize,
    /// Images per parallel task.
    per_task: usize,
}

impl Geometry {
    fn new(spec: &ConvSpec, dims: [usize; 4]) -> Geometry {
        let side_out = [spec.out_side(dims[1]), spec.out_side(dims[2])];
        Geometry {
            side_in: [dims[1], dims[2]],
            side_out,
            rows_per_image: side_out[0] * side_out[1],
            per_task: items_per_task(dims[0]),
        }
    }
}

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
            lowering: Lowering::for_spec(&spec),
            weight: Param::new(&format!("{name}.weight"), wdims, weight),
            bias: Param::new(&format!("{name}.bias"), vec![spec.out_channels], bias),
            cols: Vec::new(),
            patch_weights: Vec::new(),
            mapped: Vec::new(),
            winograd: Winograd::default(),
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

    /// Forward pass into `out`; keeps what the backward pass needs.
    pub fn forward(&mut self, input: &Tensor, out: &mut Tensor) {
        self.forward_mapped(input, None, out);
    }

    /// Forward pass of the convolution of `map(input)` into `out`, the mapped input formed a
    /// block at a time and never stored (see [`ChannelAffine`]); the output-patch lowering is
    /// the one that reads its input through a map. `None`: the plain [`Conv2d::forward`].
    pub fn forward_mapped(
        &mut self,
        input: &Tensor,
        map: Option<&ChannelAffine>,
        out: &mut Tensor,
    ) {
        assert_eq!(
            input.channels(),
            self.spec.in_channels,
            "conv input channels"
        );
        self.check_map(map);
        out.resize(self.output_dims(input.dims));
        self.input_dims = input.dims;
        match self.lowering {
            Lowering::InputPatches => self.forward_input_patches(input, out),
            Lowering::OutputPatches => self.forward_output_patches(input, map, out),
            Lowering::Winograd => {
                self.winograd
                    .forward(&self.spec, &self.weight.value, &self.bias.value, input, out)
            }
        }
    }

    /// Backward pass from `dout`, given the `input` of the last forward pass (the caller keeps
    /// it; output patches and Winograd read it for their weight gradient). Adds the parameter
    /// gradients when `param_grads` is set and writes the input gradient into `dinput` when one
    /// is given. Runs once per forward: it reuses the forward's patch buffer as scratch.
    pub fn backward(
        &mut self,
        input: &Tensor,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        self.backward_mapped(input, None, dout, param_grads, dinput);
    }

    /// [`Conv2d::backward`] after [`Conv2d::forward_mapped`], given the same `input` and `map`.
    /// The input gradient is that of the mapped input; the map's own backward is the caller's.
    pub fn backward_mapped(
        &mut self,
        input: &Tensor,
        map: Option<&ChannelAffine>,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        assert_eq!(
            input.dims, self.input_dims,
            "backward given the forward's input"
        );
        self.check_map(map);
        match self.lowering {
            Lowering::InputPatches => self.backward_input_patches(dout, param_grads, dinput),
            Lowering::OutputPatches => {
                self.backward_output_patches(input, map, dout, param_grads, dinput)
            }
            Lowering::Winograd => {
                if let Some((dw, db)) = self.winograd.backward(input, dout, param_grads, dinput) {
                    self.weight.accumulate_grad(&dw);
                    self.bias.accumulate_grad(&db);
                }
            }
        }
    }

    fn check_map(&self, map: Option<&ChannelAffine>) {
        if let Some(map) = map {
            assert_eq!(
                self.lowering,
                Lowering::OutputPatches,
                "only output patches read their input through a map"
            );
            assert_eq!(map.channels(), self.spec.in_channels, "map channels");
        }
    }

    fn forward_input_patches(&mut self, input: &Tensor, out: &mut Tensor) {
        let spec = self.spec;
        let geo = Geometry::new(&spec, input.dims);
        let row_len = spec.groups * spec.group_cols();
        self.cols
            .resize(input.batch() * geo.rows_per_image * row_len, 0.0);
        let (weight, bias) = (&self.weight.value, &self.bias.value);
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

    fn backward_input_patches(
        &mut self,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        let spec = self.spec;
        let dims = self.input_dims;
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
                self.weight.accumulate_grad(&dw);
                self.bias.accumulate_grad(&db);
            }
        }
        let Some(dinput) = dinput else {
            return;
        };
        dinput.resize(dims);
        // The input gradient's im2col-shaped rows reuse the forward's im2col buffer, which the
        // weight gradient above no longer needs.
        let weight = &self.weight.value;
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
    fn set_output_patch_weights(&mut self) {
        let mut m = std::mem::take(&mut self.patch_weights);
        m.resize(self.weight.value.len(), 0.0);
        self.for_each_output_patch_weight(|w, i, _| m[i] = self.weight.value[w]);
        self.patch_weights = m;
    }

    /// Images per block of output patches: the block's products (k²·Cout_g per input value)
    /// stay within [`PATCH_BLOCK_BYTES`].
    fn output_patch_block(&self, geo: &Geometry) -> usize {
        let row_bytes = self.spec.groups * self.spec.transposed().group_cols() * 4;
        (PATCH_BLOCK_BYTES / (geo.rows_per_image * row_bytes)).clamp(1, geo.per_task)
    }

    fn forward_output_patches(
        &mut self,
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
        self.set_output_patch_weights();
        let (item_in, item_out) = (input.item_len(), geo.rows_per_image * spec.out_channels);
        let mapped = mapped_blocks(&mut self.mapped, map, tasks, block * item_in);
        let (m, bias) = (&self.patch_weights, &self.bias.value);
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
    fn backward_output_patches(
        &mut self,
        input: &Tensor,
        map: Option<&ChannelAffine>,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        let spec = self.spec;
        let transposed = spec.transposed();
        let geo = Geometry::new(&spec, self.input_dims);
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
        let dinput_parts = grad_chunks_per_task(dinput, self.input_dims, geo.per_task);
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
                // side; the heads' weight gradient pass is about 15 % faster.
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
            let mut dw = vec![0.0; self.weight.value.len()];
            for (dmt, db) in partials {
                self.for_each_output_patch_weight(|w, _, i| dw[w] += dmt[i]);
                self.bias.accumulate_grad(&db);
            }
            self.weight.accumulate_grad(&dw);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `out[n,oy,ox,g·Cout_g+co] = b + Σ x[n, oy·s+ky−p, ox·s+kx−p, g·Cin_g+ci]·W_g[ky][kx][ci][co]`
    /// by direct summation.
    fn direct(spec: &ConvSpec, x: &Tensor, w: &[f32], b: &[f32]) -> Vec<f32> {
        let [n, h, wd, cin] = x.dims;
        let (oh, ow, k) = (spec.out_side(h), spec.out_side(wd), spec.kernel);
        let (gin, gout) = (spec.group_in(), spec.group_out());
        let mut out = vec![0.0; n * oh * ow * spec.out_channels];
        for i in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for g in 0..spec.groups {
                        for co in 0..gout {
                            let mut sum = b[g * gout + co];
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy =
                                        (oy * spec.stride + ky) as isize - spec.padding as isize;
                                    let ix =
                                        (ox * spec.stride + kx) as isize - spec.padding as isize;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    for ci in 0..gin {
                                        let xv = x.data[((i * h + iy as usize) * wd + ix as usize)
                                            * cin
                                            + g * gin
                                            + ci];
                                        let wv = w[g * spec.group_weights()
                                            + ((ky * k + kx) * gin + ci) * gout
                                            + co];
                                        sum += xv * wv;
                                    }
                                }
                            }
                            out[((i * oh + oy) * ow + ox) * spec.out_channels + g * gout + co] =
                                sum;
                        }
                    }
                }
            }
        }
        out
    }

    fn values(len: usize, phase: f32) -> Vec<f32> {
        (0..len).map(|i| (i as f32 * 0.37 + phase).sin()).collect()
    }

    /// Largest error of a lowering relative to the sum of the magnitudes of the terms that
    /// make up each value (its rounding error grows with that sum, not with the result, which
    /// may cancel). Measured: at most 2.1e-7 for patches, 4.3e-6 for Winograd F(4×4, 3×3).
    fn tolerance(lowering: Lowering) -> f32 {
        match lowering {
            Lowering::Winograd => 2e-5,
            Lowering::InputPatches | Lowering::OutputPatches => 1e-6,
        }
    }

    /// Checks `|got − want| ≤ tol · bound` value by value, `bound` being the sum of the
    /// magnitudes of each value's terms.
    fn assert_close(what: &str, got: &[f32], want: &[f32], bound: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what} length");
        for (i, ((g, w), b)) in got.iter().zip(want).zip(bound).enumerate() {
            assert!(
                (g - w).abs() <= tol * b,
                "{what}[{i}]: {g} vs {w} (terms' magnitude {b})"
            );
        }
    }

    fn abs(values: &[f32]) -> Vec<f32> {
        values.iter().map(|v| v.abs()).collect()
    }

    #[test]
    fn each_lowering_is_chosen_where_it_is_cheapest() {
        let heads_b = ConvSpec {
            in_channels: 96,
            out_channels: 24,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        };
        assert_eq!(Lowering::for_spec(&heads_b), Lowering::OutputPatches);
        let without_groups = ConvSpec {
            in_channels: 32,
            out_channels: 96,
            groups: 1,
            ..heads_b
        };
        assert_eq!(Lowering::for_spec(&without_groups), Lowering::Winograd);
        for spec in [
            ConvSpec {
                out_channels: 96,
                ..heads_b
            },
            ConvSpec {
                stride: 2,
                ..heads_b
            },
            ConvSpec {
                padding: 0,
                ..heads_b
            },
        ] {
            assert_eq!(
                Lowering::for_spec(&spec),
                Lowering::InputPatches,
                "{spec:?}"
            );
        }
    }

    /// Runs `lowering` forward and backward with weights `w` and bias `b`; returns the output
    /// and the input, weight and bias gradients.
    fn run(
        spec: ConvSpec,
        lowering: Lowering,
        [x, dout]: [&Tensor; 2],
        [w, b]: [&[f32]; 2],
    ) -> [Vec<f32>; 4] {
        let mut conv = Conv2d::new("c", spec, w.to_vec(), b.to_vec());
        conv.lowering = lowering;
        let mut out = Tensor::empty();
        conv.forward(x, &mut out);
        let mut dx = Tensor::empty();
        conv.backward(x, dout, true, Some(&mut dx));
        // A second backward without parameter gradients gives the same input gradient.
        let mut dx_only = Tensor::empty();
        conv.forward(x, &mut out);
        conv.backward(x, dout, false, Some(&mut dx_only));
        assert_eq!(dx_only.data, dx.data, "{lowering:?}: dx alone");
        [out.data, dx.data, conv.weight.grad, conv.bias.grad]
    }

    /// Reading the input through a map is exactly the convolution of the mapped input, stored:
    /// in the forward pass and in every gradient (the input gradient being that of the mapped
    /// input), with and without the parameter gradients, over several blocks per thread.
    #[test]
    fn a_mapped_input_is_convolved_as_if_stored() {
        let spec = ConvSpec {
            in_channels: 96,
            out_channels: 24,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        };
        let dims = [13, 14, 14, spec.in_channels];
        let x = Tensor::from_vec(dims, values(dims.iter().product(), 0.1));
        let map = ChannelAffine {
            scale: values(spec.in_channels, 0.4),
            shift: values(spec.in_channels, 2.2),
            relu: true,
        };
        let mut mapped = Tensor::zeros(dims);
        map.apply(&x.data, &mut mapped.data);
        assert!(mapped.data.contains(&0.0) && mapped.data.iter().any(|&v| v > 0.5));
        let dout_dims = [13, 14, 14, spec.out_channels];
        let dout = Tensor::from_vec(dout_dims, values(dout_dims.iter().product(), 2.9));
        let (w, b) = (
            values(spec.groups * spec.group_weights(), 0.7),
            values(spec.out_channels, 1.3),
        );
        let mut stored = Conv2d::new("c", spec, w.clone(), b.clone());
        let mut fused = Conv2d::new("c", spec, w, b);
        assert_eq!(fused.lowering, Lowering::OutputPatches);
        let (mut out, mut dx) = (Tensor::empty(), Tensor::empty());
        stored.forward(&mapped, &mut out);
        stored.backward(&mapped, &dout, true, Some(&mut dx));
        let (mut fused_out, mut fused_dx) = (Tensor::empty(), Tensor::empty());
        fused.forward_mapped(&x, Some(&map), &mut fused_out);
        fused.backward_mapped(&x, Some(&map), &dout, true, Some(&mut fused_dx));
        assert_eq!(fused_out, out);
        assert_eq!(fused_dx, dx);
        assert_eq!(fused.weight.grad, stored.weight.grad);
        assert_eq!(fused.bias.grad, stored.bias.grad);
        let mut dx_only = Tensor::empty();
        fused.forward_mapped(&x, Some(&map), &mut fused_out);
        fused.backward_mapped(&x, Some(&map), &dout, false, Some(&mut dx_only));
        assert_eq!(dx_only, dx);
    }

    #[test]
    #[should_panic(expected = "only output patches read their input through a map")]
    fn only_output_patches_take_a_map() {
        let spec = ConvSpec {
            in_channels: 4,
            out_channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 1,
        };
        let mut conv = Conv2d::new("c", spec, values(spec.group_weights(), 0.7), vec![0.0; 4]);
        let map = ChannelAffine {
            scale: vec![1.0; 4],
            shift: vec![0.0; 4],
            relu: true,
        };
        let x = Tensor::from_vec([1, 5, 5, 4], values(100, 0.1));
        conv.forward_mapped(&x, Some(&map), &mut Tensor::empty());
    }

    /// Every lowering that applies agrees with direct summation on the forward pass, and with
    /// input patches on every gradient (the finite-difference checks in tests/gradcheck.rs tie
    /// input patches' gradients to the forward pass). The shapes cover partial Winograd tiles
    /// (sides that are not a multiple of 4, among them the paper's 14 and 7) and channel counts
    /// that are not a multiple of the transforms' lane width.
    #[test]
    fn every_lowering_computes_the_same_convolution() {
        let conv3x3 = |in_channels, out_channels, groups| ConvSpec {
            in_channels,
            out_channels,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups,
        };
        // (shape, lowering, [images, height, width]); the heads' shapes at 13 images span several
        // blocks (of output patches, of Winograd tiles) per thread, the last one partial.
        let cases = [
            (conv3x3(12, 6, 3), Lowering::OutputPatches, [3, 5, 6]),
            (conv3x3(96, 24, 3), Lowering::OutputPatches, [13, 14, 14]),
            (conv3x3(12, 20, 1), Lowering::Winograd, [3, 5, 6]),
            (conv3x3(33, 17, 1), Lowering::Winograd, [3, 5, 6]),
            (conv3x3(32, 40, 1), Lowering::Winograd, [5, 14, 7]),
            (conv3x3(32, 96, 1), Lowering::Winograd, [13, 14, 14]),
        ];
        for (spec, lowering, [n, h, w]) in cases {
            let x = Tensor::from_vec(
                [n, h, w, spec.in_channels],
                values(n * h * w * spec.in_channels, 0.1),
            );
            let dout = Tensor::from_vec(
                [n, h, w, spec.out_channels],
                values(n * h * w * spec.out_channels, 2.9),
            );
            let (w, b) = (
                values(spec.groups * spec.group_weights(), 0.7),
                values(spec.out_channels, 1.3),
            );
            let mut want = run(spec, Lowering::InputPatches, [&x, &dout], [&w, &b]);
            let x_abs = Tensor::from_vec(x.dims, abs(&x.data));
            let dout_abs = Tensor::from_vec(dout.dims, abs(&dout.data));
            let (w_abs, b_abs) = (abs(&w), abs(&b));
            // With every term positive, the sums are the magnitudes of the terms.
            let mut bound = run(
                spec,
                Lowering::InputPatches,
                [&x_abs, &dout_abs],
                [&w_abs, &b_abs],
            );
            let patches_out = std::mem::replace(&mut want[0], direct(&spec, &x, &w, &b));
            bound[0] = direct(&spec, &x_abs, &w_abs, &b_abs);
            let what = format!("{spec:?} InputPatches out");
            let tol = tolerance(Lowering::InputPatches);
            assert_close(&what, &patches_out, &want[0], &bound[0], tol);
            let got = run(spec, lowering, [&x, &dout], [&w, &b]);
            for (name, ((g, w), b)) in ["out", "dx", "dW", "db"]
                .iter()
                .zip(got.iter().zip(&want).zip(&bound))
            {
                let what = format!("{spec:?} {lowering:?} {name}");
                assert_close(&what, g, w, b, tolerance(lowering));
            }
            assert!(want[1].iter().any(|&v| v.abs() > 0.1), "dx is not trivial");
        }
    }
}
