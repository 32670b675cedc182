//! The patch matrix of a convolution (im2col) and its adjoint (col2im), NHWC.
//!
//! Row (oy, ox) of the patch matrix holds, per group, the k×k×Cin_g input values that output
//! position reads, ordered (ky, kx, ci), with zeros where the window overlaps the padding.
//! col2im adds such rows back onto the positions they were read from.

use crate::engine::conv2d::ConvSpec;

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
pub fn im2col_image(
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
pub fn col2im_image(
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
