//! Max pooling with a square window, stride and implicit −∞ padding (PyTorch's MaxPool2d).
//!
//! The forward pass records, per output value, its route: the slot `ky·k + kx` of the window
//! element it came from, the first maximum in scan order (the element PyTorch picks). The
//! backward pass adds each output's gradient to that element. Both run on chunks of `LANES`
//! channels held in fixed-size arrays, with selects rather than branches, so they vectorize;
//! channels left over after the last whole chunk go one at a time through the same code. The
//! functions work on one image at a time, so that a caller can pool a block of images while it
//! is still in cache (see `engine::input_stem`).

use crate::engine::lanes::LANES_16;

/// Channels handled together: one AVX-512 register of f32.
const LANES: usize = LANES_16;

/// A max-pooling layer's geometry.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: usize,
}

/// The in-bounds window rows (or columns) of output row `o`: `[start, end)` in input space,
/// and the window's first row (or column), which may lie in the padding.
fn window(o: usize, pool: &MaxPool2d, side: usize) -> (usize, usize, isize) {
    let origin = (o * pool.stride) as isize - pool.padding as isize;
    let end = (origin + pool.kernel as isize).min(side as isize);
    (origin.max(0) as usize, end.max(0) as usize, origin)
}

/// The `W` values of `src` from `at` as an array (one vector load for a whole chunk).
#[inline(always)]
fn chunk<const W: usize, T: Copy>(src: &[T], at: usize) -> [T; W] {
    *<&[T; W]>::try_from(&src[at..at + W]).expect("a chunk of W values")
}

/// Calls `visit::<LANES>` and then `visit::<1>` with the channel where each chunk starts, so
/// that whole chunks of [`LANES`] channels and then the channels left over are visited.
macro_rules! for_each_chunk {
    ($c:expr, $visit:ident, $($arg:expr),*) => {{
        let whole = $c - $c % LANES;
        for lane in (0..whole).step_by(LANES) {
            $visit::<LANES>(lane, $($arg),*);
        }
        for lane in whole..$c {
            $visit::<1>(lane, $($arg),*);
        }
    }};
}

/// The in-bounds elements of every output's window, for one image size, computed once per
/// batch.
#[derive(Debug, Clone)]
pub struct Windows {
    /// Per element: offset of its channel 0 in the image's input, and its slot `ky·k + kx`.
    elements: Vec<(usize, u8)>,
    /// Output o's elements are `elements[starts[o]..starts[o + 1]]`, outputs in scan order.
    starts: Vec<usize>,
    /// Input (and output) channels.
    channels: usize,
}

impl Windows {
    fn output(&self, o: usize) -> &[(usize, u8)] {
        &self.elements[self.starts[o]..self.starts[o + 1]]
    }

    fn outputs(&self) -> usize {
        self.starts.len() - 1
    }
}

/// Pools channels `lane..lane + W` of every output of one image.
#[inline(always)]
fn forward_chunk<const W: usize>(
    lane: usize,
    windows: &Windows,
    x: &[f32],
    out: &mut [f32],
    routes: &mut [u8],
) {
    let c = windows.channels;
    for o in 0..windows.outputs() {
        // Slots as u32, the width of the comparison, so that the selects vectorize.
        let (mut best, mut slot) = ([f32::NEG_INFINITY; W], [0u32; W]);
        for &(i, s) in windows.output(o) {
            let v: [f32; W] = chunk(x, i + lane);
            for l in 0..W {
                // Strictly greater: the first maximum in scan order keeps the route.
                let larger = v[l] > best[l];
                best[l] = if larger { v[l] } else { best[l] };
                slot[l] = if larger { u32::from(s) } else { slot[l] };
            }
        }
        let at = o * c + lane;
        out[at..at + W].copy_from_slice(&best);
        for (r, s) in routes[at..at + W].iter_mut().zip(slot) {
            *r = s as u8;
        }
    }
}

/// Adds the gradients of channels `lane..lane + W` of every output of one image to `dx`.
#[inline(always)]
fn backward_chunk<const W: usize>(
    lane: usize,
    windows: &Windows,
    dout: &[f32],
    routes: &[u8],
    dx: &mut [f32],
) {
    let c = windows.channels;
    for o in 0..windows.outputs() {
        let (g, slot): ([f32; W], [u8; W]) =
            (chunk(dout, o * c + lane), chunk(routes, o * c + lane));
        for &(i, s) in windows.output(o) {
            let mut d: [f32; W] = chunk(dx, i + lane);
            for l in 0..W {
                d[l] += if slot[l] == s { g[l] } else { 0.0 };
            }
            dx[i + lane..i + lane + W].copy_from_slice(&d);
        }
    }
}

impl MaxPool2d {
    /// A pooling layer.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> MaxPool2d {
        assert!(
            kernel * kernel <= usize::from(u8::MAX),
            "window slots fit a u8"
        );
        MaxPool2d {
            kernel,
            stride,
            padding,
        }
    }

    /// Output side for an input of side `side`.
    pub fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output dimensions for an input of `dims`.
    pub fn output_dims(&self, [n, h, w, c]: [usize; 4]) -> [usize; 4] {
        [n, self.out_side(h), self.out_side(w), c]
    }

    /// The windows of every output of an image of `[h, w, c]`.
    pub fn windows(&self, [h, w, c]: [usize; 3]) -> Windows {
        let k = self.kernel as isize;
        let mut windows = Windows {
            elements: Vec::new(),
            starts: vec![0],
            channels: c,
        };
        for oy in 0..self.out_side(h) {
            let (y0, y1, y_origin) = window(oy, self, h);
            for ox in 0..self.out_side(w) {
                let (x0, x1, x_origin) = window(ox, self, w);
                for iy in y0..y1 {
                    for ix in x0..x1 {
                        let slot = (iy as isize - y_origin) * k + (ix as isize - x_origin);
                        windows.elements.push(((iy * w + ix) * c, slot as u8));
                    }
                }
                windows.starts.push(windows.elements.len());
            }
        }
        windows
    }

    /// For an input of `[h, w]`, where each route leads: `table[o·k² + slot]` is the input
    /// position (`y·w + x`) of window slot `slot` of output o. A slot in the padding (which no
    /// route of a finite input takes) leads to the nearest position inside the input.
    pub fn route_sources(&self, [h, w]: [usize; 2]) -> Vec<u32> {
        let k = self.kernel;
        let clamp = |origin: isize, offset: usize, side: usize| {
            (origin + offset as isize).clamp(0, side as isize - 1) as usize
        };
        let mut table = Vec::with_capacity(self.out_side(h) * self.out_side(w) * k * k);
        for oy in 0..self.out_side(h) {
            let y_origin = window(oy, self, h).2;
            for ox in 0..self.out_side(w) {
                let x_origin = window(ox, self, w).2;
                for slot in 0..k * k {
                    let (y, x) = (clamp(y_origin, slot / k, h), clamp(x_origin, slot % k, w));
                    table.push(u32::try_from(y * w + x).expect("positions fit a u32"));
                }
            }
        }
        table
    }

    /// Pools one image `x` into `out`, and writes each output value's route.
    pub fn forward_image(windows: &Windows, x: &[f32], out: &mut [f32], routes: &mut [u8]) {
        for_each_chunk!(windows.channels, forward_chunk, windows, x, out, routes);
    }

    /// Writes the input gradient of one image into `dx`, given the output gradient `dout` and
    /// the routes of its forward pass.
    pub(super) fn backward_image(windows: &Windows, dout: &[f32], routes: &[u8], dx: &mut [f32]) {
        dx.fill(0.0);
        for_each_chunk!(windows.channels, backward_chunk, windows, dout, routes, dx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tensor::Tensor;

    /// With ties in a window, the whole gradient goes to the first maximum in scan order (as
    /// PyTorch routes it), per channel; overlapping windows add up.
    #[test]
    fn gradient_goes_to_the_first_maximum_of_each_window() {
        // One 3×3 image, 2 channels; channel 0 is constant (every element ties), channel 1 holds
        // 0..8 in scan order (one maximum per window).
        let mut x = Tensor::zeros([1, 3, 3, 2]);
        for p in 0..9 {
            x.data[p * 2] = 5.0;
            x.data[p * 2 + 1] = p as f32;
        }
        let pool = MaxPool2d::new(3, 2, 1);
        let (mut y, mut routes) = (Tensor::empty(), Vec::new());
        pool.forward(&x, &mut y, &mut routes);
        assert_eq!(y.dims, [1, 2, 2, 2]);
        assert_eq!(y.data, [5.0, 4.0, 5.0, 5.0, 5.0, 7.0, 5.0, 8.0]);
        let dy = Tensor::from_vec(y.dims, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]);
        let mut dx = Tensor::empty();
        pool.backward(&dy, &routes, x.dims, &mut dx);
        // Output (oy, ox) reads rows oy..oy+2 and columns ox..ox+2 (clipped), so channel 0's
        // first elements are positions 0, 1, 3, 4, and channel 1's maxima are 4, 5, 7, 8.
        let channel0: Vec<f32> = dx.data.iter().step_by(2).copied().collect();
        assert_eq!(channel0, [1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        let channel1: Vec<f32> = dx.data.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(channel1, [0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 0.0, 30.0, 40.0]);
        // Output (1, 1)'s window starts at (1, 1): its slots lead to positions 4, 5, 7, 8 and,
        // for the slots in the padding, to the nearest ones inside.
        let sources = pool.route_sources([3, 3]);
        assert_eq!(&sources[3 * 9..], [4, 5, 5, 7, 8, 8, 7, 8, 8]);
    }

    /// Whole chunks of channels and the channels left over give the same results as a direct
    /// scan of each window (first maximum in scan order takes the gradient), with ties; each
    /// route's source is the maximum's position.
    #[test]
    fn chunked_channels_match_a_direct_scan() {
        let (n, side, c) = (2, 7, LANES + 3);
        let values: Vec<f32> = (0..n * side * side * c)
            .map(|i| ((i * 37) % 11) as f32)
            .collect();
        let x = Tensor::from_vec([n, side, side, c], values);
        let pool = MaxPool2d::new(3, 2, 1);
        let (mut y, mut routes) = (Tensor::empty(), Vec::new());
        pool.forward(&x, &mut y, &mut routes);
        let dy = Tensor::from_vec(y.dims, (0..y.data.len()).map(|i| i as f32).collect());
        let mut dx = Tensor::empty();
        pool.backward(&dy, &routes, x.dims, &mut dx);
        let out = pool.out_side(side);
        let sources = pool.route_sources([side, side]);
        let mut want_dx = vec![0.0; x.data.len()];
        for i in 0..n {
            for (oy, ox, ch) in (0..out)
                .flat_map(|oy| (0..out).flat_map(move |ox| (0..c).map(move |ch| (oy, ox, ch))))
            {
                let mut best: Option<(f32, usize)> = None;
                for iy in (2 * oy).saturating_sub(1)..(2 * oy + 2).min(side) {
                    for ix in (2 * ox).saturating_sub(1)..(2 * ox + 2).min(side) {
                        let at = ((i * side + iy) * side + ix) * c + ch;
                        if best.is_none_or(|(b, _)| x.data[at] > b) {
                            best = Some((x.data[at], at));
                        }
                    }
                }
                let (value, at) = best.expect("every window has elements");
                let o = ((i * out + oy) * out + ox) * c + ch;
                assert_eq!(y.data[o], value);
                let source = sources[(oy * out + ox) * 9 + usize::from(routes[o])] as usize;
                assert_eq!(source, (at / c) % (side * side), "where the route leads");
                want_dx[at] += dy.data[o];
            }
        }
        assert_eq!(dx.data, want_dx);
    }
}
