//! The network's stem: BatchNorm2d on the input, a convolution, max pooling and the ReLU that
//! follows (docs/SPEC.md §2, steps 1–3; ReLU is monotone, so pooling then ReLU equals ReLU then
//! pooling, in values and gradients, at a quarter of the work), fused so that the backward
//! pass needs no gradient with respect to the input and the convolution's output never leaves
//! the cache.
//!
//! With `y = γ_c·x̂ + β_c` (zero padding applies to y) the convolution is
//! `out[p,o] = b_o + Σ_{t valid at p} Σ_c W[t,c,o]·(γ_c·x̂[p+t,c] + β_c)`
//!        `= (im2col(x̂) · W′)[p,o] + b_o + T[p,o]`, with `W′[t,c,o] = γ_c·W[t,c,o]` and the
//! position-dependent term `T[p,o] = Σ_{t valid at p} Σ_c β_c·W[t,c,o]` (the same for every
//! image). With `G = im2col(x̂)ᵀ·dout` and `S[t,o] = Σ_{p: t valid at p} Σ_n dout[n,p,o]`:
//! `dW = γ_c·G + β_c·S`, `db = Σ dout`, `dγ_c = Σ_{t,o} W·G`, `dβ_c = Σ_{t,o} W·S`.
//! This replaces the input-gradient product and its col2im by two cheap reductions.
//!
//! The convolution's output (28×28×32 per image, 8× the input) is formed and pooled for
//! `IMAGES_PER_BLOCK` images at a time: the patches, the product and the pooling of a block
//! all stay in a core's cache. Only x̂ and the pooling routes are kept for the backward pass,
//! which never forms the convolution's output gradient: only the pooling's routes carry
//! gradient, so G and R are sums over the pooled values (`RoutedPatches`).

use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::conv::patches::Padded;
use crate::engine::conv::{Conv2d, ConvSpec};
use crate::engine::matmul::{MatRef, matmul};
use crate::engine::max_pool::MaxPool2d;
use crate::engine::param::Param;
use crate::engine::relu::relu_values;
use crate::engine::tensor::{ITEMS_PER_TASK, Tensor, add_to, add_to_rows, sum_positions};
use rayon::prelude::*;
use std::ops::Range;
use wide::f32x16;

/// Images whose patches and convolution output are formed together: 4 images of the paper's
/// stem take 0.9 MiB of patches and 0.4 MiB of output, inside a core's 2 MiB L2 cache.
const IMAGES_PER_BLOCK: usize = 4;

/// The fused input batch norm, convolution and max pooling.
#[derive(Debug, Clone)]
pub struct InputStem {
    /// The batch norm (its γ, β and running statistics).
    pub bn: BatchNorm2d,
    /// The convolution (its shape, W and b); `groups` must be 1.
    pub conv: Conv2d,
    /// The pooling that follows the convolution.
    pub pool: MaxPool2d,
    /// x̂ of the last forward pass.
    normalized: Tensor,
    /// The pooling routes of the last forward pass.
    routes: Vec<u8>,
    /// Per-task scratch of the forward pass, kept between passes so that no pass allocates (and
    /// page-faults) its own: a block's patches, then its convolution output.
    scratch: Vec<f32>,
}

/// Sizes of one image at each stage of the stem.
#[derive(Debug, Clone, Copy)]
struct Shapes {
    /// Input sides.
    side_in: [usize; 2],
    /// Convolution output sides.
    side_conv: [usize; 2],
    /// Values per input image.
    input: usize,
    /// Convolution output positions per image (patch rows).
    positions: usize,
    /// Values per convolution output image.
    conv: usize,
    /// Values per pooled image.
    pooled: usize,
    /// Values per patch row (k·k·Cin).
    patch: usize,
}

/// The taps along one axis that read inside an input of side `side_in` for output index `o`:
/// those with `o·stride + k − padding ∈ [0, side_in)`, a contiguous range.
fn valid_taps(spec: &ConvSpec, side_in: usize, o: usize) -> Range<usize> {
    let start = spec.padding.saturating_sub(o * spec.stride);
    let end = (side_in + spec.padding)
        .saturating_sub(o * spec.stride)
        .min(spec.kernel);
    start..end.max(start)
}

/// `T[p,o] = Σ_{t valid at p} B[t,o]` for B `[ky][kx][o]`, position-major. A tap is valid when
/// both its row and its column are, so the sum runs over kx first (for each ky and output
/// column), then over ky for each output row.
fn position_sums(spec: &ConvSpec, shapes: &Shapes, b: &[f32]) -> Vec<f32> {
    let (k, cout) = (spec.kernel, spec.out_channels);
    let [oh, ow] = shapes.side_conv;
    let row = ow * cout;
    let mut over_kx = vec![0f32; k * row];
    for ky in 0..k {
        for ox in 0..ow {
            let dst = &mut over_kx[ky * row + ox * cout..][..cout];
            for kx in valid_taps(spec, shapes.side_in[1], ox) {
                add_to(dst, &b[(ky * k + kx) * cout..][..cout]);
            }
        }
    }
    let mut t = vec![0f32; oh * row];
    for (oy, dst) in t.chunks_exact_mut(row).enumerate() {
        for ky in valid_taps(spec, shapes.side_in[0], oy) {
            add_to(dst, &over_kx[ky * row..][..row]);
        }
    }
    t
}

/// `S[t,o] = Σ_{p: t valid at p} R[p,o]` for position-major R, as `[ky][kx][o]`: the sum runs
/// over output rows first (for each ky), then over output columns (for each kx).
fn tap_sums(spec: &ConvSpec, shapes: &Shapes, r: &[f32]) -> Vec<f32> {
    let (k, cout) = (spec.kernel, spec.out_channels);
    let ow = shapes.side_conv[1];
    let row = ow * cout;
    let mut over_oy = vec![0f32; k * row];
    for (oy, src) in r.chunks_exact(row).enumerate() {
        for ky in valid_taps(spec, shapes.side_in[0], oy) {
            add_to(&mut over_oy[ky * row..][..row], src);
        }
    }
    let mut s = vec![0f32; k * k * cout];
    for ky in 0..k {
        for ox in 0..ow {
            let src = &over_oy[ky * row + ox * cout..][..cout];
            for kx in valid_taps(spec, shapes.side_in[1], ox) {
                add_to(&mut s[(ky * k + kx) * cout..][..cout], src);
            }
        }
    }
    s
}

/// The patches of a block of images into `cols` (rows image after image).
fn block_patches(
    conv: &Conv2d,
    shapes: &Shapes,
    images: &[f32],
    padded: &mut Padded,
    cols: &mut [f32],
) {
    for (i, image) in images.chunks_exact(shapes.input).enumerate() {
        padded.load(image);
        padded.im2col(
            &conv.spec,
            shapes.side_conv,
            &mut cols[i * shapes.positions * shapes.patch..],
        );
    }
}

/// Values the weight gradient sums at a time: one AVX-512 register.
const PIECE: usize = 16;
/// A piece of a patch row, or of a sum of them.
type Piece = f32x16;

/// The [`PIECE`] values of `src` from its start: one vector load.
#[inline(always)]
fn piece(src: &[f32]) -> Piece {
    Piece::new(src[..PIECE].try_into().expect("a whole piece"))
}

/// [`RoutedPatches::add_image`] for one kernel side (see [`RoutedPatches::image_adder`]).
type AddImage = fn(&RoutedPatches, &Padded, &[f32], &[f32], &[u8], &mut [Piece], &mut [f32]);

/// The stem's `G = im2col(x̂)ᵀ·dconv` and `R[p,o] = Σ_n dconv[n,p,o]` summed straight from the
/// pooled gradient. Each pooled value's gradient reaches one convolution output, its route, so
/// `G[·,o] = Σ_{n,q} dpooled[n,q,o]·patch(n, route(n,q,o))`: a quarter of the products of
/// `im2col(x̂)ᵀ·dconv`, with no convolution-sized gradient and no patch matrix. Each kernel row
/// of a patch (k·Cin ≤ [`PIECE`] values) is read from the padded image as one piece; the
/// lanes past its end are summed too, and dropped.
struct RoutedPatches {
    /// The convolution output position of each window slot of each pooled output
    /// ([`MaxPool2d::route_sources`]).
    sources: Vec<u32>,
    /// Window slots per pooled output.
    slots: usize,
    /// Offset of each convolution output position's patch in the padded image.
    patch_starts: Vec<usize>,
    /// Kernel rows of a patch (k), one piece each.
    rows: usize,
    /// Values per kernel row of a patch (k·Cin).
    row_values: usize,
    /// Values per padded image row: the step from one kernel row of a patch to the next.
    padded_row_len: usize,
}

impl RoutedPatches {
    fn new(pool: &MaxPool2d, spec: &ConvSpec, shapes: &Shapes, padded: &Padded) -> Self {
        let row_values = spec.kernel * spec.in_channels;
        let width = shapes.side_conv[1];
        RoutedPatches {
            sources: pool.route_sources(shapes.side_conv),
            slots: pool.kernel * pool.kernel,
            patch_starts: (0..shapes.positions)
                .map(|p| padded.patch_start(spec, p / width, p % width))
                .collect(),
            rows: spec.kernel,
            row_values,
            padded_row_len: padded.row_len(),
        }
    }

    /// [`RoutedPatches::add_image`] for this kernel side: the side as a constant, so that a
    /// channel's sums stay in registers.
    fn image_adder(&self) -> AddImage {
        match self.rows {
            1 => Self::add_image::<1>,
            3 => Self::add_image::<3>,
            5 => Self::add_image::<5>,
            7 => Self::add_image::<7>,
            rows => unreachable!("InputStem::new refuses {rows} kernel rows"),
        }
    }

    /// Adds one image's terms, for kernels of `K` rows: to `sums` (`[o][ky]`), each pooled
    /// value's gradient (stopped where the ReLU after pooling stopped it) times its route's
    /// patch, read from the image in `padded`; to `r` (`[o][p]`), the gradient itself.
    fn add_image<const K: usize>(
        &self,
        padded: &Padded,
        dout: &[f32],
        output: &[f32],
        routes: &[u8],
        sums: &mut [Piece],
        r: &mut [f32],
    ) {
        let values = padded.values();
        let cout = sums.len() / K;
        // Channel-major, so that one channel's scattered additions stay within a few KiB.
        let channel_r = r.chunks_exact_mut(r.len() / cout);
        for (o, (channel_sums, r)) in sums.chunks_exact_mut(K).zip(channel_r).enumerate() {
            let mut acc: [Piece; K] = channel_sums.try_into().expect("K sums per channel");
            for q in 0..dout.len() / cout {
                let at = q * cout + o;
                let p = self.sources[q * self.slots + usize::from(routes[at])] as usize;
                // Through the ReLU: the gradient passes where the output is positive.
                let g = if output[at] > 0.0 { dout[at] } else { 0.0 };
                r[p] += g;
                let (start, g) = (self.patch_starts[p], Piece::splat(g));
                for (ky, acc) in acc.iter_mut().enumerate() {
                    let row = piece(&values[start + ky * self.padded_row_len..]);
                    *acc = row.mul_add(g, *acc);
                }
            }
            channel_sums.copy_from_slice(&acc);
        }
    }

    /// `G` (`[ky][kx][ci][o]`, as the weights) from the sums `[o][ky]`.
    fn patch_gradient(&self, sums: &[Piece], cout: usize) -> Vec<f32> {
        let mut g = vec![0f32; self.rows * self.row_values * cout];
        for (i, sum) in sums.iter().enumerate() {
            let (o, ky) = (i / self.rows, i % self.rows);
            for (j, &v) in sum.as_array().iter().take(self.row_values).enumerate() {
                g[(ky * self.row_values + j) * cout + o] = v;
            }
        }
        g
    }
}

/// The scratch of each parallel task of a pass over `batch` images (`per_task` each), cut from
/// `scratch`, each split into room for a block's patches and for its convolution output.
fn task_scratch<'a>(
    scratch: &'a mut Vec<f32>,
    shapes: &Shapes,
    batch: usize,
    per_task: usize,
) -> impl IndexedParallelIterator<Item = (&'a mut [f32], &'a mut [f32])> {
    let patches = IMAGES_PER_BLOCK * shapes.positions * shapes.patch;
    let per_task_len = patches + IMAGES_PER_BLOCK * shapes.conv;
    scratch.resize(batch.div_ceil(per_task) * per_task_len, 0.0);
    scratch
        .par_chunks_mut(per_task_len)
        .map(move |scratch| scratch.split_at_mut(patches))
}

impl InputStem {
    /// Fuses `bn` (over the convolution's input channels) with `conv` and `pool`.
    pub fn new(bn: BatchNorm2d, conv: Conv2d, pool: MaxPool2d) -> InputStem {
        assert_eq!(conv.spec.groups, 1, "the stem's convolution has one group");
        assert!(
            conv.spec.kernel * conv.spec.in_channels <= PIECE
                && matches!(conv.spec.kernel, 1 | 3 | 5 | 7),
            "the stem's kernel side is 1, 3, 5 or 7, and a kernel row's k·Cin values fit one piece"
        );
        assert_eq!(
            bn.channels(),
            conv.spec.in_channels,
            "batch norm feeds the convolution"
        );
        InputStem {
            bn,
            conv,
            pool,
            normalized: Tensor::empty(),
            routes: Vec::new(),
            scratch: Vec::new(),
        }
    }

    fn shapes(&self, dims: [usize; 4]) -> Shapes {
        let spec = self.conv.spec;
        let side_conv = [spec.out_side(dims[1]), spec.out_side(dims[2])];
        let positions = side_conv[0] * side_conv[1];
        Shapes {
            side_in: [dims[1], dims[2]],
            side_conv,
            input: dims[1] * dims[2] * dims[3],
            positions,
            conv: positions * spec.out_channels,
            pooled: self.pool.out_side(side_conv[0])
                * self.pool.out_side(side_conv[1])
                * spec.out_channels,
            patch: spec.kernel * spec.kernel * spec.in_channels,
        }
    }

    /// Output dimensions for an input of `dims`.
    pub fn output_dims(&self, dims: [usize; 4]) -> [usize; 4] {
        self.pool.output_dims(self.conv.output_dims(dims))
    }

    /// Forward into `out` (the pooled convolution output): batch statistics (updating the
    /// running ones) when `train`, running statistics otherwise.
    pub fn forward(&mut self, input: &Tensor, train: bool, out: &mut Tensor) {
        self.bn.normalize(input, train, &mut self.normalized);
        let spec = self.conv.spec;
        let (cin, cout) = (spec.in_channels, spec.out_channels);
        let shapes = self.shapes(input.dims);
        let (w, gamma, beta) = (
            &self.conv.weight.value,
            &self.bn.gamma.value,
            &self.bn.beta.value,
        );
        let scaled: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, w)| gamma[(i / cout) % cin] * w)
            .collect();
        // B[t,o] = Σ_c β_c·W[t,c,o]; the table holds b_o + T[p,o], T[p,o] = Σ_{t valid at p} B[t,o].
        let mut b = vec![0f32; shapes.patch / cin * cout];
        for (i, w) in w.iter().enumerate() {
            b[(i / (cin * cout)) * cout + i % cout] += beta[(i / cout) % cin] * w;
        }
        let mut table = position_sums(&spec, &shapes, &b);
        add_to_rows(&mut table, &self.conv.bias.value);
        out.resize(self.output_dims(input.dims));
        self.routes.resize(out.data.len(), 0);
        let windows = self
            .pool
            .windows([shapes.side_conv[0], shapes.side_conv[1], cout]);
        let per_task = ITEMS_PER_TASK;
        let scratch = task_scratch(&mut self.scratch, &shapes, input.batch(), per_task);
        out.data
            .par_chunks_mut(per_task * shapes.pooled)
            .zip(self.routes.par_chunks_mut(per_task * shapes.pooled))
            .zip(self.normalized.data.par_chunks(per_task * shapes.input))
            .zip(scratch)
            .for_each(|(((out, routes), xhat), (cols, conv))| {
                let mut padded = Padded::new(shapes.side_in, cin, spec.padding);
                let blocks = out
                    .chunks_mut(IMAGES_PER_BLOCK * shapes.pooled)
                    .zip(routes.chunks_mut(IMAGES_PER_BLOCK * shapes.pooled))
                    .zip(xhat.chunks(IMAGES_PER_BLOCK * shapes.input));
                for ((out, routes), xhat) in blocks {
                    let images = xhat.len() / shapes.input;
                    block_patches(&self.conv, &shapes, xhat, &mut padded, cols);
                    matmul(
                        images * shapes.positions,
                        cout,
                        shapes.patch,
                        MatRef::rows(cols, 0, shapes.patch),
                        MatRef::rows(&scaled, 0, cout),
                        conv,
                        0,
                        cout,
                        false,
                    );
                    let images = conv
                        .chunks_exact_mut(shapes.conv)
                        .zip(out.chunks_exact_mut(shapes.pooled))
                        .zip(routes.chunks_exact_mut(shapes.pooled));
                    for ((conv, out), routes) in images {
                        add_to(conv, &table);
                        MaxPool2d::forward_image(&windows, conv, out, routes);
                        relu_values(out);
                    }
                }
            });
    }

    /// Backward from `dout`, the gradient of the `output` of the last forward pass (which must
    /// have been in training mode): adds the gradients of W, b, γ and β.
    pub fn backward(&mut self, output: &Tensor, dout: &Tensor) {
        assert_eq!(output.dims, dout.dims, "stem backward shapes");
        let spec = self.conv.spec;
        let (cin, cout) = (spec.in_channels, spec.out_channels);
        let shapes = self.shapes(self.normalized.dims);
        let padded = Padded::new(shapes.side_in, cin, spec.padding);
        let routed = RoutedPatches::new(&self.pool, &spec, &shapes, &padded);
        let add_image = routed.image_adder();
        let per_task = ITEMS_PER_TASK;
        // Per task: G = im2col(x̂)ᵀ·dconv and R[p,o] = Σ_n dconv[n,p,o], summed in task order.
        let partials: Vec<(Vec<f32>, Vec<f32>)> = dout
            .data
            .par_chunks(per_task * shapes.pooled)
            .zip(output.data.par_chunks(per_task * shapes.pooled))
            .zip(self.routes.par_chunks(per_task * shapes.pooled))
            .zip(self.normalized.data.par_chunks(per_task * shapes.input))
            .map(|(((dout, output), routes), xhat)| {
                let mut padded = padded.clone();
                let mut sums = vec![Piece::ZERO; cout * routed.rows];
                let mut r = vec![0f32; shapes.conv];
                let images = dout
                    .chunks_exact(shapes.pooled)
                    .zip(output.chunks_exact(shapes.pooled))
                    .zip(routes.chunks_exact(shapes.pooled))
                    .zip(xhat.chunks_exact(shapes.input));
                for (((dout, output), routes), xhat) in images {
                    padded.load(xhat);
                    add_image(&routed, &padded, dout, output, routes, &mut sums, &mut r);
                }
                (routed.patch_gradient(&sums, cout), r)
            })
            .collect();
        let (mut g, mut r) = (vec![0f32; shapes.patch * cout], vec![0f32; shapes.conv]);
        for (pg, pr) in &partials {
            add_to(&mut g, pg);
            add_to(&mut r, pr);
        }
        // The tasks sum R channel-major; the reductions below read it position-major.
        let r: Vec<f32> = (0..shapes.conv)
            .map(|i| r[(i % cout) * shapes.positions + i / cout])
            .collect();
        let s = tap_sums(&spec, &shapes, &r);
        let (gamma, beta, w) = (
            &self.bn.gamma.value,
            &self.bn.beta.value,
            &self.conv.weight.value,
        );
        let mut dw = vec![0f32; w.len()];
        let (mut dgamma, mut dbeta) = (vec![0f32; cin], vec![0f32; cin]);
        for (i, dw) in dw.iter_mut().enumerate() {
            let (t, c, o) = (i / (cin * cout), (i / cout) % cin, i % cout);
            let s = s[t * cout + o];
            *dw = gamma[c] * g[i] + beta[c] * s;
            dgamma[c] += w[i] * g[i];
            dbeta[c] += w[i] * s;
        }
        let db = sum_positions(&r, cout);
        self.conv.weight.accumulate_grad(&dw);
        self.conv.bias.accumulate_grad(&db);
        self.bn.gamma.accumulate_grad(&dgamma);
        self.bn.beta.accumulate_grad(&dbeta);
    }

    /// The trainable parameters: γ, β, W, b.
    pub fn params_mut(&mut self) -> [&mut Param; 4] {
        [
            &mut self.bn.gamma,
            &mut self.bn.beta,
            &mut self.conv.weight,
            &mut self.conv.bias,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conv::ConvSpec;
    use crate::engine::relu::{relu_backward, relu_forward};
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                "{what}[{i}]: {g} vs {w}"
            );
        }
    }

    /// The fused stem computes what batch norm, convolution and max pooling compute one after
    /// the other: the same output and the same gradients of γ, β, W and b, over a batch that
    /// ends in a partial block of images, for every kernel side the stem accepts.
    #[test]
    fn matches_the_layers_it_fuses() {
        for (kernel, channels) in [(1, 3), (3, 3), (5, 3), (7, 2)] {
            matches_the_layers_it_fuses_with(kernel, channels);
        }
    }

    fn matches_the_layers_it_fuses_with(kernel: usize, channels: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let spec = ConvSpec {
            in_channels: channels,
            out_channels: 5,
            kernel,
            stride: 1,
            padding: kernel / 2,
            groups: 1,
        };
        let dims = [2 * IMAGES_PER_BLOCK + 3, 9, 8, channels];
        let x = Tensor::from_vec(dims, random(&mut rng, dims.iter().product()));
        let weights = random(&mut rng, spec.group_weights());
        let conv = Conv2d::new("conv", spec, weights, random(&mut rng, 5));
        let mut bn = BatchNorm2d::new("bn", channels);
        bn.gamma.value = [0.5, 1.5, -2.0][..channels].to_vec();
        bn.beta.value = [0.3, -0.7, 1.1][..channels].to_vec();
        let pool = MaxPool2d::new(3, 2, 1);
        let mut stem = InputStem::new(bn.clone(), conv.clone(), pool);
        let mut out = Tensor::empty();
        stem.forward(&x, true, &mut out);
        let dout = Tensor::from_vec(out.dims, random(&mut rng, out.data.len()));
        stem.backward(&out, &dout);

        let (mut conv, mut bn) = (conv, bn);
        let (mut y, mut z, mut want) = (Tensor::empty(), Tensor::empty(), Tensor::empty());
        bn.forward_train(&x, &mut y);
        conv.forward(&y, &mut z);
        let mut routes = Vec::new();
        pool.forward(&z, &mut want, &mut routes);
        relu_forward(&mut want);
        assert_close(&format!("k={kernel} output"), &out.data, &want.data);
        assert!(
            want.data.contains(&0.0) && want.data.iter().any(|&v| v > 0.0),
            "the ReLU both passes and stops values"
        );
        let (mut dpooled, mut dz, mut dy) = (dout.clone(), Tensor::empty(), Tensor::empty());
        relu_backward(&want, &mut dpooled);
        pool.backward(&dpooled, &routes, z.dims, &mut dz);
        conv.backward(&y, &dz, true, Some(&mut dy));
        bn.backward(&x, &dy, true, None);
        assert_close(
            &format!("k={kernel} dW"),
            &stem.conv.weight.grad,
            &conv.weight.grad,
        );
        assert_close(
            &format!("k={kernel} db"),
            &stem.conv.bias.grad,
            &conv.bias.grad,
        );
        assert_close(
            &format!("k={kernel} dγ"),
            &stem.bn.gamma.grad,
            &bn.gamma.grad,
        );
        assert_close(&format!("k={kernel} dβ"), &stem.bn.beta.grad, &bn.beta.grad);
        assert_eq!(stem.bn.running_mean, bn.running_mean);
    }
}
