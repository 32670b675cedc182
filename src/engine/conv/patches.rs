//! The patch matrix of a convolution (im2col) and its adjoint (col2im), NHWC, one image at a
//! time through a copy of the image with a zero border.
//!
//! Row (oy, ox) of the patch matrix holds, per group, the k×k×Cin_g input values that output
//! position reads, ordered (ky, kx, ci), with zeros where the window overlaps the padding.
//! col2im adds such rows back onto the positions they were read from. With the border in the
//! copy, every window lies inside it: without groups, the taps of one kernel row are one
//! contiguous stretch of k·Cin values, and no copy needs a bounds test. For stride-1
//! convolutions that keep the side, [`col2im_gather`] forms col2im's sum position by position.

use crate::engine::conv::ConvSpec;
use crate::engine::lanes::{LANES_8, load_f32x8};

/// Calls `run(row_offset, scratch_offset, len)` for the stretches that make up the patch row
/// of `spec` whose patch starts at `patch_start` ([`Padded::patch_start`]) in a padded image of
/// `channels` channels and `padded_row_len` values per row.
#[inline(always)]
fn for_each_run(
    spec: &ConvSpec,
    padded_row_len: usize,
    channels: usize,
    patch_start: usize,
    mut run: impl FnMut(usize, usize, usize),
) {
    let (k, c, gin) = (spec.kernel, channels, spec.group_in());
    let mut at = 0;
    for g in 0..spec.groups {
        for ky in 0..k {
            let start = patch_start + ky * padded_row_len;
            if spec.groups == 1 {
                run(at, start, k * c);
            } else {
                for kx in 0..k {
                    run(at + kx * gin, start + kx * c + g * gin, gin);
                }
            }
            at += k * gin;
        }
    }
}

/// Copies `src` into `dst` (same length) in fixed-width pieces, the last one overlapping the one
/// before it, so that the short stretches of patch rows take a few vector moves rather than a
/// call to `memcpy` each.
#[inline(always)]
fn copy_run(dst: &mut [f32], src: &[f32]) {
    const W: usize = 8;
    let len = src.len();
    if len < W {
        dst.copy_from_slice(src);
        return;
    }
    let piece = |at: usize| -> [f32; W] { src[at..at + W].try_into().expect("W values") };
    for at in (0..len - W).step_by(W) {
        dst[at..at + W].copy_from_slice(&piece(at));
    }
    dst[len - W..].copy_from_slice(&piece(len - W));
}

/// Adds `src` onto `dst` (same length) in fixed-width pieces and a scalar remainder, so that
/// the short stretches of grouped patch rows take a few vector additions rather than a loop of
/// run-time length.
#[inline(always)]
fn add_run(dst: &mut [f32], src: &[f32]) {
    const W: usize = 8;
    let whole = src.len() / W * W;
    for at in (0..whole).step_by(W) {
        let dst: &mut [f32; W] = (&mut dst[at..at + W]).try_into().expect("W values");
        let src: &[f32; W] = src[at..at + W].try_into().expect("W values");
        for i in 0..W {
            dst[i] += src[i];
        }
    }
    for i in whole..src.len() {
        dst[i] += src[i];
    }
}

/// Zeros kept after a padded image, so that a whole vector read from the start of a patch
/// row's last stretch stays inside the buffer (see [`Padded::values`]).
const SLACK: usize = 16;

/// Scratch holding one image (h×w×c) inside a zero border of `padding`, reused image after
/// image.
#[derive(Debug, Clone)]
pub struct Padded {
    data: Vec<f32>,
    /// Sides of the unpadded image.
    side: [usize; 2],
    channels: usize,
    padding: usize,
}

impl Padded {
    /// All-zero scratch for images of `side` with `channels` channels and a border of `padding`.
    pub fn new(side: [usize; 2], channels: usize, padding: usize) -> Padded {
        let len = (side[0] + 2 * padding) * (side[1] + 2 * padding) * channels + SLACK;
        Padded {
            data: vec![0.0; len],
            side,
            channels,
            padding,
        }
    }

    /// Values per padded row.
    pub fn row_len(&self) -> usize {
        (self.side[1] + 2 * self.padding) * self.channels
    }

    /// Offset of image row `y`'s first value.
    fn interior_row(&self, y: usize) -> usize {
        (y + self.padding) * self.row_len() + self.padding * self.channels
    }

    /// Copies `image` into the interior; the border stays as it is (zero unless a
    /// [`Padded::col2im`] wrote it).
    pub fn load(&mut self, image: &[f32]) {
        let width = self.side[1] * self.channels;
        for y in 0..self.side[0] {
            let at = self.interior_row(y);
            self.data[at..at + width].copy_from_slice(&image[y * width..][..width]);
        }
    }

    /// The padded image, row after row, followed by `SLACK` values: the stretch of `k·Cin`
    /// values of kernel row `ky` of output (oy, ox)'s patch (one group) starts at
    /// `patch_start(spec, oy, ox) + ky·row_len()`, and reading up to `SLACK` values past the
    /// stretch's end stays inside the buffer.
    pub fn values(&self) -> &[f32] {
        &self.data
    }

    /// Offset in [`Padded::values`] of the first value of output (oy, ox)'s patch.
    pub fn patch_start(&self, spec: &ConvSpec, oy: usize, ox: usize) -> usize {
        oy * spec.stride * self.row_len() + ox * spec.stride * self.channels
    }

    /// Copies the interior out to `image`.
    fn store(&self, image: &mut [f32]) {
        let width = self.side[1] * self.channels;
        for y in 0..self.side[0] {
            let at = self.interior_row(y);
            image[y * width..][..width].copy_from_slice(&self.data[at..at + width]);
        }
    }

    /// Writes the patch rows of the loaded image for `spec` (output `side_out`) into `cols`.
    pub fn im2col(&self, spec: &ConvSpec, side_out: [usize; 2], cols: &mut [f32]) {
        debug_assert_eq!(spec.padding, self.padding);
        let row_len = spec.groups * spec.group_cols();
        for oy in 0..side_out[0] {
            for ox in 0..side_out[1] {
                let row = &mut cols[(oy * side_out[1] + ox) * row_len..][..row_len];
                let start = self.patch_start(spec, oy, ox);
                for_each_run(
                    spec,
                    self.row_len(),
                    self.channels,
                    start,
                    |at, src, len| {
                        copy_run(&mut row[at..at + len], &self.data[src..src + len]);
                    },
                );
            }
        }
    }

    /// Writes into `image` the sum of the patch-shaped rows `dcols` of `spec` (output
    /// `side_out`), each added back onto the positions it was read from: the scratch is
    /// cleared, the rows are added, border included, and the interior is copied out (what
    /// fell on the border belongs to the padding and is dropped).
    pub fn col2im(
        &mut self,
        spec: &ConvSpec,
        dcols: &[f32],
        side_out: [usize; 2],
        image: &mut [f32],
    ) {
        debug_assert_eq!(spec.padding, self.padding);
        self.data.fill(0.0);
        let row_len = spec.groups * spec.group_cols();
        let (padded_row_len, channels) = (self.row_len(), self.channels);
        for oy in 0..side_out[0] {
            for ox in 0..side_out[1] {
                let row = &dcols[(oy * side_out[1] + ox) * row_len..][..row_len];
                let start = self.patch_start(spec, oy, ox);
                for_each_run(spec, padded_row_len, channels, start, |at, dst, len| {
                    add_run(&mut self.data[dst..dst + len], &row[at..at + len]);
                });
            }
        }
        self.store(image);
    }
}

/// Values [`col2im_gather`] adds at a time: one AVX register.
const GATHER_LANES: usize = LANES_8;

/// Taps t of a kernel of side `k` (padding `p`, stride 1) whose row of the patch matrix at
/// position `at + p − t` (on a side of `len`) reads position `at`.
fn taps_reading(at: usize, len: usize, k: usize, p: usize) -> std::ops::Range<usize> {
    (at + p + 1).saturating_sub(len)..(at + p + 1).min(k)
}

/// `bias` plus what [`Padded::col2im`] writes, for a stride-1 `spec` whose output side equals
/// its input side `side`: each position gathers the pieces of the patch rows that read it, so
/// that it is written once, where the scatter reads and writes it k² times.
pub fn col2im_gather(
    spec: &ConvSpec,
    side: [usize; 2],
    rows: &[f32],
    bias: &[f32],
    image: &mut [f32],
) {
    assert!(
        spec.stride == 1 && 2 * spec.padding + 1 == spec.kernel,
        "gathering needs stride 1 and the same side in and out"
    );
    let (k, p, c, gin) = (spec.kernel, spec.padding, spec.in_channels, spec.group_in());
    let row_len = spec.groups * spec.group_cols();
    for y in 0..side[0] {
        let rows_y = taps_reading(y, side[0], k, p);
        for x in 0..side[1] {
            let rows_x = taps_reading(x, side[1], k, p);
            let out = &mut image[(y * side[1] + x) * c..][..c];
            for g in 0..spec.groups {
                for c0 in (0..gin).step_by(GATHER_LANES) {
                    let len = GATHER_LANES.min(gin - c0);
                    let channel = g * gin + c0;
                    let mut sum = load_f32x8(&bias[channel..], len);
                    for ky in rows_y.clone() {
                        for kx in rows_x.clone() {
                            // Row (y + p − ky, x + p − kx) read this position at tap (ky, kx).
                            let row = (y + p - ky) * side[1] + (x + p - kx);
                            let at = row * row_len + g * spec.group_cols() + (ky * k + kx) * gin;
                            sum += load_f32x8(&rows[at + c0..], len);
                        }
                    }
                    out[channel..][..len].copy_from_slice(&sum.to_array()[..len]);
                }
            }
        }
    }
}
