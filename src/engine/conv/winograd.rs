//! Winograd F(4×4, 3×3) lowering of 3×3, stride-1, padding-1 convolutions without groups
//! (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", 2016, with their
//! interpolation points 0, ±1, ±2).
//!
//! The output is cut into 4×4 tiles; tile t reads a 6×6 input patch d_t (rows and columns
//! 4·ty−1 .. 4·ty+5, zero outside). With the F(4,3) matrices
//! ```text
//! Bᵀ = [4  0 −5  0 1 0]   G = [ 1/4    0    0 ]   Aᵀ = [1 1  1 1  1 0]
//!      [0 −4 −4  1 1 0]       [−1/6 −1/6 −1/6]        [0 1 −1 2 −2 0]
//!      [0  4 −4 −1 1 0]       [−1/6  1/6 −1/6]        [0 1  1 4  4 0]
//!      [0 −2 −1  2 1 0]       [1/24 1/12  1/6]        [0 1 −1 8 −8 1]
//!      [0  2 −1 −2 1 0]       [1/24 −1/12 1/6]
//!      [0  4  0 −5 0 1]       [   0    0    1 ]
//! ```
//! one output tile per channel pair is `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`, and summing over input
//! channels turns the 36 elementwise products ξ into 36 matrix products over
//! (tiles × Cin)·(Cin × Cout):
//!
//! - forward: `V_ξ[t][ci] = (Bᵀ d_t B)_ξ`, `U_ξ[ci][co] = (G g Gᵀ)_ξ`, `M_ξ = V_ξ·U_ξ`,
//!   `Y_t = Aᵀ M_t A + b`;
//! - backward, the adjoint of every step: `M̄_t = A dY_t Aᵀ`, `dU_ξ = V_ξᵀ·M̄_ξ`,
//!   `dg = Gᵀ dU G`, `dV_ξ = M̄_ξ·U_ξᵀ`, and `dx += B dV_t Bᵀ` on each tile's patch.
//!
//! Each 4×4 output takes 36·Cin·Cout multiply-adds instead of 144·Cin·Cout (4× fewer; 3.1×
//! on the paper's 14×14 and 7×7 maps, whose last tiles overhang the edge, where F(2×2, 3×3)
//! saves 2.25× and 1.7×), and the transformed input V holds 36 values per 16 outputs instead
//! of an im2col matrix's 9 per output. The price is accuracy: in f32 the results differ from a
//! direct convolution by up to about 4e-6 of the magnitude of their terms (the unit tests
//! measure it), against about 2e-7 for F(2×2, 3×3) and for patches. Buffers are laid out
//! `[tile][ξ][channel]`; the transforms run on 16 channels at a time, and the tiles are
//! processed in blocks of whole images, so a block's products stay in cache between the matrix
//! products and the transforms.

use crate::engine::conv::ConvSpec;
use crate::engine::lanes::LANES_16;
use crate::engine::matmul::{MatRef, matmul};
use crate::engine::tensor::{ITEMS_PER_TASK, Tensor, add_to, grad_chunks_per_task};
use rayon::prelude::*;
use wide::f32x16;

/// Channels one transform handles at a time (one AVX-512 register of f32).
const LANES: usize = LANES_16;
/// Output rows (and columns) of a tile.
const TILE: usize = 4;
/// Input rows (and columns) of a tile's patch, and of its transform.
const PATCH: usize = TILE + 2;
/// The 36 positions ξ of a transformed tile.
const XI: usize = PATCH * PATCH;
/// Bytes of transformed tiles (input and output side) per block: enough rows for efficient
/// products, few enough that a block stays in a core's L2 cache between the products and the
/// transforms.
const BLOCK_BYTES: usize = 1 << 20;

/// One value per channel of a group of [`LANES`] channels: one SIMD register.
type Lane = f32x16;

// The 1-D transforms act on whole lanes (the same transform for every channel of the group);
// `columns_then_rows` applies them to the columns and then the rows of a tile, which
// `transform_tile` reads straight from memory and `both_sides` takes from a grid.

/// `Bᵀ d` on one column of a patch.
#[inline(always)]
fn bt(d: [Lane; PATCH]) -> [Lane; PATCH] {
    let (four, five) = (Lane::splat(4.0), Lane::splat(5.0));
    let (outer4, inner4) = (d[4] - four * d[2], d[3] - four * d[1]);
    let (outer2, inner2) = (d[4] - d[2], (d[3] - d[1]) + (d[3] - d[1]));
    [
        four * d[0] - five * d[2] + d[4],
        outer4 + inner4,
        outer4 - inner4,
        outer2 + inner2,
        outer2 - inner2,
        four * d[1] - five * d[3] + d[5],
    ]
}

/// `B v`, the adjoint of [`bt`].
#[inline(always)]
fn b(v: [Lane; PATCH]) -> [Lane; PATCH] {
    let (two, four, five) = (Lane::splat(2.0), Lane::splat(4.0), Lane::splat(5.0));
    let (sum12, diff12) = (v[1] + v[2], v[1] - v[2]);
    let (sum34, diff34) = (v[3] + v[4], v[3] - v[4]);
    [
        four * v[0],
        four * (v[5] - diff12) - two * diff34,
        -(five * v[0] + four * sum12 + sum34),
        diff12 + two * diff34 - five * v[5],
        v[0] + sum12 + sum34,
        v[5],
    ]
}

/// `G g` on one column of a 3×3 kernel.
#[inline(always)]
fn g(w: [Lane; 3]) -> [Lane; PATCH] {
    let sixth = Lane::splat(1.0 / 6.0);
    let outer = w[0] + w[2];
    // Rows 3 and 4 share w₀/24 + w₂/6.
    let ends = Lane::splat(1.0 / 24.0) * w[0] + sixth * w[2];
    let twelfth_middle = Lane::splat(1.0 / 12.0) * w[1];
    [
        Lane::splat(0.25) * w[0],
        -sixth * (outer + w[1]),
        -sixth * (outer - w[1]),
        ends + twelfth_middle,
        ends - twelfth_middle,
        w[2],
    ]
}

/// `Gᵀ u`, the adjoint of [`g`].
#[inline(always)]
fn gt(u: [Lane; PATCH]) -> [Lane; 3] {
    let sixth = Lane::splat(1.0 / 6.0);
    let (sum12, diff12) = (u[1] + u[2], u[2] - u[1]);
    let (sum34, diff34) = (u[3] + u[4], u[3] - u[4]);
    [
        Lane::splat(0.25) * u[0] - sixth * sum12 + Lane::splat(1.0 / 24.0) * sum34,
        sixth * diff12 + Lane::splat(1.0 / 12.0) * diff34,
        sixth * (sum34 - sum12) + u[5],
    ]
}

/// `Aᵀ m` on one column of a transformed tile.
#[inline(always)]
fn at(m: [Lane; PATCH]) -> [Lane; TILE] {
    let (two, four, eight) = (Lane::splat(2.0), Lane::splat(4.0), Lane::splat(8.0));
    let (sum12, diff12) = (m[1] + m[2], m[1] - m[2]);
    let (sum34, diff34) = (m[3] + m[4], m[3] - m[4]);
    [
        m[0] + sum12 + sum34,
        diff12 + two * diff34,
        sum12 + four * sum34,
        diff12 + eight * diff34 + m[5],
    ]
}

/// `A y`, the adjoint of [`at`].
#[inline(always)]
fn a(y: [Lane; TILE]) -> [Lane; PATCH] {
    let (two, four) = (Lane::splat(2.0), Lane::splat(4.0));
    let (even1, odd1) = (y[0] + y[2], y[1] + y[3]);
    let (even2, odd2) = (y[0] + four * y[2], two * (y[1] + four * y[3]));
    [
        y[0],
        even1 + odd1,
        even1 - odd1,
        even2 + odd2,
        even2 - odd2,
        y[3],
    ]
}

/// `out = T x Tᵀ` for the square tile x, given `t` = the action of T on one column.
#[inline(always)]
fn both_sides<const I: usize, const O: usize>(
    x: &Grid<I>,
    t: impl Fn([Lane; I]) -> [Lane; O],
    out: &mut Grid<O>,
) {
    columns_then_rows(|r, s| x[r][s], t, out);
}

/// `out = T x Tᵀ`, given `t` = the action of T on one column, for the square tile x whose
/// position (r, s) holds the first `lanes` values of `at(r, s)` (zeros after them; `None`: a
/// position outside the input, all zero). The tile goes from memory straight into the
/// arithmetic: copied into an array on the stack first, it would be moved there in 32-byte
/// halves, and reading those back as 64-byte vectors stalls.
#[inline(always)]
fn transform_tile<'a, const I: usize, const O: usize>(
    at: impl Fn(usize, usize) -> Option<&'a [f32]>,
    lanes: usize,
    t: impl Fn([Lane; I]) -> [Lane; O],
    out: &mut Grid<O>,
) {
    // The width test is made once per tile, so that the full-width reads are plain loads.
    if lanes == LANES {
        columns_then_rows(|r, s| at(r, s).map_or(Lane::ZERO, whole_lane), t, out);
    } else {
        let partial = |r, s| at(r, s).map_or(Lane::ZERO, |v| partial_lane(v, lanes));
        columns_then_rows(partial, t, out);
    }
}

/// `out = T x Tᵀ` for the square tile whose position (r, s) is `x(r, s)`.
#[inline(always)]
fn columns_then_rows<const I: usize, const O: usize>(
    x: impl Fn(usize, usize) -> Lane,
    t: impl Fn([Lane; I]) -> [Lane; O],
    out: &mut Grid<O>,
) {
    // Columns first: (T x)[·][s] = t(x[·][s]); then rows: (T x Tᵀ)[r][·] = t((T x)[r][·]).
    let mut left = [[Lane::ZERO; I]; O];
    for s in 0..I {
        let column = t(std::array::from_fn(|r| x(r, s)));
        for r in 0..O {
            left[r][s] = column[r];
        }
    }
    for r in 0..O {
        out[r] = t(left[r]);
    }
}

/// The first [`LANES`] values of `src`: one vector load.
#[inline(always)]
fn whole_lane(src: &[f32]) -> Lane {
    Lane::new(src[..LANES].try_into().expect("a whole lane"))
}

/// The first `lanes` values of `src`, zeros after them (channel counts that are not a multiple
/// of [`LANES`]). Out of line, or the compiler merges it with [`whole_lane`] into one call to
/// `memcpy` of run-time length.
#[inline(never)]
fn partial_lane(src: &[f32], lanes: usize) -> Lane {
    Lane::from(&src[..lanes])
}

/// A tile of lanes: `I × I` positions, [`LANES`] channels each.
type Grid<const I: usize> = [[Lane; I]; I];

/// An all-zero grid.
const fn zero_grid<const I: usize>() -> Grid<I> {
    [[Lane::ZERO; I]; I]
}

/// Reads the first `lanes` values of `src` into `lane` (zeros after them): one vector load at
/// full width.
#[inline(always)]
fn read_lane(src: &[f32], lanes: usize, lane: &mut Lane) {
    *lane = if lanes == LANES {
        whole_lane(src)
    } else {
        partial_lane(src, lanes)
    };
}

/// `dst[i] = f(dst, lane)[i]` for the first `lanes` values (one vector operation at full
/// width, the partial case out of line, as in [`partial_lane`]).
#[inline(always)]
fn update_lane(dst: &mut [f32], lane: &Lane, lanes: usize, f: impl Fn(Lane, Lane) -> Lane) {
    if lanes == LANES {
        let dst: &mut [f32; LANES] = (&mut dst[..LANES]).try_into().expect("a whole lane");
        *dst = f(Lane::new(*dst), *lane).to_array();
    } else {
        update_partial_lane(dst, lane, lanes, f);
    }
}

#[inline(never)]
fn update_partial_lane(dst: &mut [f32], lane: &Lane, lanes: usize, f: impl Fn(Lane, Lane) -> Lane) {
    let updated = f(Lane::from(&dst[..lanes]), *lane).to_array();
    dst[..lanes].copy_from_slice(&updated[..lanes]);
}

/// Fills `grid` with lane (r, s) = `lanes` floats at `src[(r·N + s)·stride + offset..]`.
#[inline(always)]
fn load_grid<const N: usize>(
    src: &[f32],
    stride: usize,
    offset: usize,
    lanes: usize,
    grid: &mut Grid<N>,
) {
    for r in 0..N {
        for s in 0..N {
            read_lane(
                &src[(r * N + s) * stride + offset..],
                lanes,
                &mut grid[r][s],
            );
        }
    }
}

/// Applies `f` to `dst` at `[(r·N + s)·stride + offset..]` and lane (r, s) of `grid`.
#[inline(always)]
fn update_grid<const N: usize>(
    dst: &mut [f32],
    stride: usize,
    offset: usize,
    lanes: usize,
    grid: &Grid<N>,
    f: impl Fn(Lane, Lane) -> Lane + Copy,
) {
    for r in 0..N {
        for s in 0..N {
            update_lane(
                &mut dst[(r * N + s) * stride + offset..],
                &grid[r][s],
                lanes,
                f,
            );
        }
    }
}

/// Whether the Winograd lowering computes this convolution.
pub fn applies(spec: &ConvSpec) -> bool {
    spec.kernel == 3 && spec.stride == 1 && spec.padding == 1 && spec.groups == 1
}

/// Tile rows and columns covering an output of side `side`.
fn tiles_per_side(side: usize) -> usize {
    side.div_ceil(TILE)
}

/// The Winograd form of one convolution layer: the transformed weights and per-thread scratch.
/// The transformed input is not kept between the passes: storing it would write and later
/// read 4× the input through memory, while recomputing a block of it in the backward pass
/// costs one transform that stays in cache.
#[derive(Debug, Clone, Default)]
pub struct Winograd {
    /// `U`, `[ξ][ci][co]`.
    u: Vec<f32>,
    /// `Uᵀ`, `[ξ][co][ci]`, formed by a backward pass that computes the input gradient: its
    /// products read U transposed, and `gemm` would otherwise repack it in every product
    /// (docs/PERFORMANCE.md has the measurement).
    ut: Vec<f32>,
    /// Per-thread block scratch: `V` or `dV` (`[tile][ξ][ci]`), then `M` or `M̄`
    /// (`[tile][ξ][co]`).
    scratch: Vec<f32>,
    /// Per-thread sums of `dU` (`[ξ][ci][co]`) in the backward pass, kept between passes so
    /// that no pass allocates, page-faults and clears its own.
    du_sums: Vec<f32>,
}

/// Sizes of one pass over a batch.
#[derive(Debug, Clone, Copy)]
struct Plan {
    side: [usize; 2],
    tiles: [usize; 2],
    tiles_per_image: usize,
    images_per_task: usize,
    images_per_block: usize,
    cin: usize,
    cout: usize,
}

impl Plan {
    fn new(dims: [usize; 4], cout: usize) -> Plan {
        let tiles = [tiles_per_side(dims[1]), tiles_per_side(dims[2])];
        let tiles_per_image = tiles[0] * tiles[1];
        let tile_bytes = XI * (dims[3] + cout) * std::mem::size_of::<f32>();
        Plan {
            side: [dims[1], dims[2]],
            tiles,
            tiles_per_image,
            images_per_task: ITEMS_PER_TASK,
            images_per_block: (BLOCK_BYTES / (tile_bytes * tiles_per_image)).max(1),
            cin: dims[3],
            cout,
        }
    }

    /// Tiles of one block.
    fn block_tiles(&self) -> usize {
        self.images_per_block * self.tiles_per_image
    }

    /// Scratch floats one thread needs for a block.
    fn block_scratch(&self) -> usize {
        self.block_tiles() * XI * (self.cin + self.cout)
    }

    /// One thread's scratch as the block's input-side (`[tile][ξ][ci]`) and output-side
    /// (`[tile][ξ][co]`) transformed tiles.
    fn split_scratch<'a>(&self, scratch: &'a mut [f32]) -> (&'a mut [f32], &'a mut [f32]) {
        scratch.split_at_mut(self.block_tiles() * XI * self.cin)
    }
}

/// Input row (or column) of position `r` of a tile starting at output row `TILE·t`, if it is
/// inside the input (padding 1).
#[inline(always)]
fn patch_index(t: usize, r: usize, side: usize) -> Option<usize> {
    (TILE * t + r).checked_sub(1).filter(|&i| i < side)
}

/// Calls `f(r, s, at)` for each position (r, s) of tile (ty, tx)'s patch that lies inside
/// the image, with `at` the offset of its channel c0 in one NHWC image.
#[inline(always)]
fn for_each_patch_position(
    plan: &Plan,
    (ty, tx): (usize, usize),
    c0: usize,
    mut f: impl FnMut(usize, usize, usize),
) {
    for r in 0..PATCH {
        let Some(iy) = patch_index(ty, r, plan.side[0]) else {
            continue;
        };
        for s in 0..PATCH {
            if let Some(ix) = patch_index(tx, s, plan.side[1]) {
                f(r, s, (iy * plan.side[1] + ix) * plan.cin + c0);
            }
        }
    }
}

/// Loads the patch of tile (ty, tx), channels c0.., from one NHWC image (zero outside).
#[inline(always)]
fn load_patch(x: &[f32], plan: &Plan, tile: (usize, usize), c0: usize, d: &mut Grid<PATCH>) {
    let lanes = LANES.min(plan.cin - c0);
    *d = zero_grid();
    for_each_patch_position(plan, tile, c0, |r, s, at| {
        read_lane(&x[at..], lanes, &mut d[r][s]);
    });
}

/// Adds the patch gradient `dd` onto tile (ty, tx) of one NHWC image's input gradient.
#[inline(always)]
fn add_patch(dx: &mut [f32], plan: &Plan, tile: (usize, usize), c0: usize, dd: &Grid<PATCH>) {
    let lanes = LANES.min(plan.cin - c0);
    for_each_patch_position(plan, tile, c0, |r, s, at| {
        update_lane(&mut dx[at..], &dd[r][s], lanes, |d, g| d + g);
    });
}

impl Winograd {
    /// Forward pass of the convolution with weights `[ky][kx][ci][co]` and `bias` into `out`;
    /// keeps the transformed weights for the backward pass.
    pub fn forward(
        &mut self,
        spec: &ConvSpec,
        weight: &[f32],
        bias: &[f32],
        input: &Tensor,
        out: &mut Tensor,
    ) {
        debug_assert!(applies(spec));
        let plan = Plan::new(input.dims, spec.out_channels);
        self.transform_weights(weight, plan.cin, plan.cout);
        let tasks = input.batch().div_ceil(plan.images_per_task);
        self.scratch.resize(tasks * plan.block_scratch(), 0.0);
        out.resize([input.batch(), input.dims[1], input.dims[2], plan.cout]);
        let item_in = input.item_len();
        let item_out = input.dims[1] * input.dims[2] * plan.cout;
        let tile_in = XI * plan.cin;
        let u = &self.u;
        input
            .data
            .par_chunks(plan.images_per_task * item_in)
            .zip(out.data.par_chunks_mut(plan.images_per_task * item_out))
            .zip(self.scratch.par_chunks_mut(plan.block_scratch()))
            .for_each(|((x, y), scratch)| {
                let (v, m) = plan.split_scratch(scratch);
                let images = x.len() / item_in;
                for first in (0..images).step_by(plan.images_per_block) {
                    let count = plan.images_per_block.min(images - first);
                    let rows = count * plan.tiles_per_image;
                    transform_input_block(&x[first * item_in..][..count * item_in], &plan, v);
                    for xi in 0..XI {
                        matmul(
                            rows,
                            plan.cout,
                            plan.cin,
                            MatRef::rows(v, xi * plan.cin, tile_in),
                            MatRef::rows(u, xi * plan.cin * plan.cout, plan.cout),
                            m,
                            xi * plan.cout,
                            XI * plan.cout,
                            false,
                        );
                    }
                    for i in 0..count {
                        let image = &mut y[(first + i) * item_out..][..item_out];
                        let m = &m[i * plan.tiles_per_image * XI * plan.cout..];
                        transform_output(m, &plan, bias, image);
                    }
                }
            });
    }

    /// Backward pass from `dout`, given the `input` of the forward pass: returns the weight
    /// (`[ky][kx][ci][co]`) and bias gradients when `param_grads` is set, and writes the input
    /// gradient into `dinput` when one is given.
    pub fn backward(
        &mut self,
        input: &Tensor,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) -> Option<(Vec<f32>, Vec<f32>)> {
        let plan = Plan::new(input.dims, dout.channels());
        let (cin, cout) = (plan.cin, plan.cout);
        let item_out = dout.item_len();
        let item_in = input.item_len();
        let tile_in = XI * cin;
        if dinput.is_some() {
            self.transpose_weights(cin, cout);
        }
        let dx_chunks = grad_chunks_per_task(dinput, input.dims, plan.images_per_task);
        let ut = &self.ut;
        let du_len = XI * cin * cout;
        self.du_sums
            .resize(dout.batch().div_ceil(plan.images_per_task) * du_len, 0.0);
        let db_sums: Vec<Vec<f32>> = dout
            .data
            .par_chunks(plan.images_per_task * item_out)
            .zip(input.data.par_chunks(plan.images_per_task * item_in))
            .zip(dx_chunks.into_par_iter())
            .zip(self.scratch.par_chunks_mut(plan.block_scratch()))
            .zip(self.du_sums.par_chunks_mut(du_len))
            .map(|((((dy, x), mut dx), scratch), du)| {
                let images = dy.len() / item_out;
                let mut db = vec![0.0; if param_grads { cout } else { 0 }];
                // One buffer holds V, then dV: for each ξ the weight gradient reads V's
                // columns ξ before the input gradient overwrites them with dV's.
                let (v_then_dv, mbar) = plan.split_scratch(scratch);
                for first in (0..images).step_by(plan.images_per_block) {
                    let count = plan.images_per_block.min(images - first);
                    let rows = count * plan.tiles_per_image;
                    for i in 0..count {
                        let image = &dy[(first + i) * item_out..][..item_out];
                        let mbar = &mut mbar[i * plan.tiles_per_image * XI * cout..];
                        let db = param_grads.then_some(&mut db[..]);
                        transform_output_grad(image, &plan, mbar, db);
                    }
                    if param_grads {
                        let block = &x[first * item_in..][..count * item_in];
                        transform_input_block(block, &plan, v_then_dv);
                    }
                    for xi in 0..XI {
                        let mbar_xi = MatRef::rows(mbar, xi * cout, XI * cout);
                        if param_grads {
                            matmul(
                                cin,
                                cout,
                                rows,
                                MatRef::transposed(v_then_dv, xi * cin, tile_in),
                                mbar_xi,
                                du,
                                xi * cin * cout,
                                cout,
                                // The task's first block sets its sums.
                                first > 0,
                            );
                        }
                        if dx.is_some() {
                            matmul(
                                rows,
                                cin,
                                cout,
                                mbar_xi,
                                MatRef::rows(ut, xi * cin * cout, cin),
                                v_then_dv,
                                xi * cin,
                                tile_in,
                                false,
                            );
                        }
                    }
                    if let Some(dx) = dx.as_deref_mut() {
                        for i in 0..count {
                            let image = &mut dx[(first + i) * item_in..][..item_in];
                            transform_input_grad(
                                &v_then_dv[i * plan.tiles_per_image * tile_in..],
                                &plan,
                                image,
                            );
                        }
                    }
                }
                db
            })
            .collect();
        param_grads.then(|| {
            let (du, others) = self.du_sums.split_at_mut(du_len);
            for partial in others.chunks_exact(du_len) {
                add_to(du, partial);
            }
            let mut db = vec![0.0; cout];
            for partial in &db_sums {
                add_to(&mut db, partial);
            }
            (weight_grad(du, cin * cout), db)
        })
    }

    /// `U = G g Gᵀ` for every (ci, co), from weights `[ky][kx][ci][co]`.
    fn transform_weights(&mut self, weight: &[f32], cin: usize, cout: usize) {
        let pairs = cin * cout;
        self.u.resize(XI * pairs, 0.0);
        let (mut kernel, mut u) = (zero_grid::<3>(), zero_grid::<PATCH>());
        for p0 in (0..pairs).step_by(LANES) {
            let lanes = LANES.min(pairs - p0);
            load_grid(weight, pairs, p0, lanes, &mut kernel);
            both_sides(&kernel, g, &mut u);
            update_grid(&mut self.u, pairs, p0, lanes, &u, |_, v| v);
        }
    }

    /// `Uᵀ` from `U`, for the input gradient (a forward pass without one, as in evaluation,
    /// does not need it).
    fn transpose_weights(&mut self, cin: usize, cout: usize) {
        let pairs = cin * cout;
        self.ut.resize(XI * pairs, 0.0);
        self.u
            .par_chunks_exact(pairs)
            .zip(self.ut.par_chunks_exact_mut(pairs))
            .for_each(|(u, ut)| {
                for (co, column) in ut.chunks_exact_mut(cin).enumerate() {
                    for (ci, value) in column.iter_mut().enumerate() {
                        *value = u[ci * cout + co];
                    }
                }
            });
    }
}

/// `dg = Gᵀ dU G` for every (ci, co) (`pairs` of them), as weights `[ky][kx][ci][co]`.
fn weight_grad(du: &[f32], pairs: usize) -> Vec<f32> {
    let mut dw = vec![0.0; 9 * pairs];
    let (mut grid, mut dg) = (zero_grid::<PATCH>(), zero_grid::<3>());
    for p0 in (0..pairs).step_by(LANES) {
        let lanes = LANES.min(pairs - p0);
        load_grid(du, pairs, p0, lanes, &mut grid);
        both_sides(&grid, gt, &mut dg);
        update_grid(&mut dw, pairs, p0, lanes, &dg, |_, v| v);
    }
    dw
}

/// The tiles of one image, row by row, with their index.
fn tiles(plan: &Plan) -> impl Iterator<Item = (usize, (usize, usize))> + use<> {
    let columns = plan.tiles[1];
    (0..plan.tiles_per_image).map(move |t| (t, (t / columns, t % columns)))
}

/// `V_t = Bᵀ d_t B` for every tile of a block of whole NHWC images, into `v` (`[tile][ξ][ci]`).
fn transform_input_block(images: &[f32], plan: &Plan, v: &mut [f32]) {
    let item_in = plan.side[0] * plan.side[1] * plan.cin;
    for (i, image) in images.chunks_exact(item_in).enumerate() {
        transform_input(
            image,
            plan,
            &mut v[i * plan.tiles_per_image * XI * plan.cin..],
        );
    }
}

/// `V_t = Bᵀ d_t B` for every tile of one image, into `v` (`[tile][ξ][ci]`).
fn transform_input(image: &[f32], plan: &Plan, v: &mut [f32]) {
    let (mut d, mut transformed) = (zero_grid(), zero_grid());
    for (t, tile) in tiles(plan) {
        let v = &mut v[t * XI * plan.cin..][..XI * plan.cin];
        for c0 in (0..plan.cin).step_by(LANES) {
            load_patch(image, plan, tile, c0, &mut d);
            both_sides(&d, bt, &mut transformed);
            update_grid(
                v,
                plan.cin,
                c0,
                LANES.min(plan.cin - c0),
                &transformed,
                |_, v| v,
            );
        }
    }
}

/// `dx = Σ_t B dV_t Bᵀ` on the tiles' patches of one image's input gradient.
fn transform_input_grad(dv: &[f32], plan: &Plan, dx: &mut [f32]) {
    dx.fill(0.0);
    let (mut grid, mut dd) = (zero_grid(), zero_grid());
    for (t, tile) in tiles(plan) {
        let dv = &dv[t * XI * plan.cin..][..XI * plan.cin];
        for c0 in (0..plan.cin).step_by(LANES) {
            load_grid(dv, plan.cin, c0, LANES.min(plan.cin - c0), &mut grid);
            both_sides(&grid, b, &mut dd);
            add_patch(dx, plan, tile, c0, &dd);
        }
    }
}

/// `Y_t = Aᵀ M_t A + b` for every tile of one image, written where it falls inside the output.
fn transform_output(m: &[f32], plan: &Plan, bias: &[f32], y: &mut [f32]) {
    let cout = plan.cout;
    let mut out = zero_grid::<TILE>();
    // Read once per image, not per tile (and not right after a store of the same lane).
    let bias_lanes: Vec<Lane> = (0..cout)
        .step_by(LANES)
        .map(|c0| {
            let mut lane = Lane::ZERO;
            read_lane(&bias[c0..], LANES.min(cout - c0), &mut lane);
            lane
        })
        .collect();
    for (t, (ty, tx)) in tiles(plan) {
        let m = &m[t * XI * cout..][..XI * cout];
        for c0 in (0..cout).step_by(LANES) {
            let (lanes, bias_lane) = (LANES.min(cout - c0), bias_lanes[c0 / LANES]);
            let position = |r: usize, s: usize| Some(&m[(r * PATCH + s) * cout + c0..]);
            transform_tile(position, lanes, at, &mut out);
            for (r, row) in out.iter().enumerate() {
                for (s, lane) in row.iter().enumerate() {
                    let (oy, ox) = (TILE * ty + r, TILE * tx + s);
                    if oy < plan.side[0] && ox < plan.side[1] {
                        let at = (oy * plan.side[1] + ox) * cout + c0;
                        update_lane(&mut y[at..], &(*lane + bias_lane), lanes, |_, v| v);
                    }
                }
            }
        }
    }
}

/// `M̄_t = A dY_t Aᵀ` for every tile of one image's output gradient, into `mbar`
/// (`[tile][ξ][co]`); positions past the output's edge have zero gradient. Adds the image's
/// `Σ dY` over positions (its bias gradient) to `bias_grad` when one is given, while the tiles
/// are in registers.
fn transform_output_grad(dy: &[f32], plan: &Plan, mbar: &mut [f32], bias_grad: Option<&mut [f32]>) {
    let cout = plan.cout;
    let mut transformed = zero_grid();
    for (t, (ty, tx)) in tiles(plan) {
        let mbar = &mut mbar[t * XI * cout..][..XI * cout];
        for c0 in (0..cout).step_by(LANES) {
            let lanes = LANES.min(cout - c0);
            // Output positions past the edge (odd sides) have no gradient.
            let position = |r: usize, s: usize| {
                let (oy, ox) = (TILE * ty + r, TILE * tx + s);
                (oy < plan.side[0] && ox < plan.side[1])
                    .then(|| &dy[(oy * plan.side[1] + ox) * cout + c0..])
            };
            transform_tile(position, lanes, a, &mut transformed);
            update_grid(mbar, cout, c0, lanes, &transformed, |_, v| v);
        }
    }
    if let Some(db) = bias_grad {
        // Row 1 of A is all ones, so M̄_t at ξ = (1, 1) is the sum of the tile's output
        // gradients.
        const XI_SUM: usize = PATCH + 1;
        for tile in mbar.chunks_exact(XI * cout).take(plan.tiles_per_image) {
            let sums = &tile[XI_SUM * cout..][..cout];
            add_to(db, sums);
        }
    }
}
