//! Max pooling with a square window, stride and implicit −∞ padding (PyTorch's MaxPool2d).
//!
//! Forward keeps only the maxima, so its inner loop is a plain vectorized `max` over the
//! channels. Backward routes each output's gradient to the first element of its window (in scan
//! order, the element PyTorch picks) that equals the output, channel by channel with a mask of
//! the channels already routed, so it too is a vectorized loop with no index scatter. The caller
//! passes the forward's input and output back in; an output that a following ReLU clamped to 0
//! has a zero gradient, so where it is routed does not matter.

use crate::engine::tensor::{Tensor, items_per_task};
use rayon::prelude::*;

/// A max-pooling layer.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: usize,
}

/// The in-bounds window rows (or columns) of output row `o`: `[start, end)` in input space.
fn window(o: usize, pool: &MaxPool2d, side: usize) -> (usize, usize) {
    let start = (o * pool.stride) as isize - pool.padding as isize;
    let end = (start + pool.kernel as isize).min(side as isize);
    (start.max(0) as usize, end.max(0) as usize)
}

impl MaxPool2d {
    /// A pooling layer.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> MaxPool2d {
        MaxPool2d {
            kernel,
            stride,
            padding,
        }
    }

    fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Forward pass into `out`.
    pub fn forward(&self, input: &Tensor, out: &mut Tensor) {
        let [n, h, w, c] = input.dims;
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        out.resize([n, oh, ow, c]);
        let per_task = items_per_task(n);
        out.data
            .par_chunks_mut(per_task * oh * ow * c)
            .zip(input.data.par_chunks(per_task * h * w * c))
            .for_each(|(out, input)| {
                for (out, x) in out.chunks_mut(oh * ow * c).zip(input.chunks(h * w * c)) {
                    for oy in 0..oh {
                        let (y0, y1) = window(oy, self, h);
                        for ox in 0..ow {
                            let (x0, x1) = window(ox, self, w);
                            let m = &mut out[(oy * ow + ox) * c..][..c];
                            m.fill(f32::NEG_INFINITY);
                            for iy in y0..y1 {
                                for ix in x0..x1 {
                                    let v = &x[(iy * w + ix) * c..][..c];
                                    m.iter_mut().zip(v).for_each(|(m, &v)| *m = m.max(v));
                                }
                            }
                        }
                    }
                }
            });
    }

    /// Backward pass: writes the input gradient into `dx`, given the forward's `input`, its
    /// `output` and the output gradient `dout`.
    pub fn backward(&self, input: &Tensor, output: &Tensor, dout: &Tensor, dx: &mut Tensor) {
        let [n, h, w, c] = input.dims;
        let [_, oh, ow, _] = output.dims;
        dx.resize(input.dims);
        let per_task = items_per_task(n);
        dx.data
            .par_chunks_mut(per_task * h * w * c)
            .zip(input.data.par_chunks(per_task * h * w * c))
            .zip(output.data.par_chunks(per_task * oh * ow * c))
            .zip(dout.data.par_chunks(per_task * oh * ow * c))
            .for_each(|(((dx, x), y), dy)| {
                // Per channel: 1 once this output's gradient has been routed, else 0.
                let mut routed = vec![0.0f32; c];
                let items = dx
                    .chunks_mut(h * w * c)
                    .zip(x.chunks(h * w * c))
                    .zip(y.chunks(oh * ow * c))
                    .zip(dy.chunks(oh * ow * c));
                for (((dx, x), y), dy) in items {
                    // Cleared image by image, by the thread that fills it, while it is in cache.
                    dx.fill(0.0);
                    for oy in 0..oh {
                        let (y0, y1) = window(oy, self, h);
                        for ox in 0..ow {
                            let (x0, x1) = window(ox, self, w);
                            let o = (oy * ow + ox) * c;
                            let (m, g) = (&y[o..o + c], &dy[o..o + c]);
                            routed.fill(0.0);
                            // Scan order; selects rather than branches keep the loop vectorized.
                            for iy in y0..y1 {
                                for ix in x0..x1 {
                                    let i = (iy * w + ix) * c;
                                    let lanes = dx[i..i + c]
                                        .iter_mut()
                                        .zip(&x[i..i + c])
                                        .zip(m.iter().zip(g))
                                        .zip(routed.iter_mut());
                                    for (((d, &v), (&m, &g)), r) in lanes {
                                        let hit = v == m && *r == 0.0;
                                        *d += if hit { g } else { 0.0 };
                                        *r = if hit { 1.0 } else { *r };
                                    }
                                }
                            }
                        }
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut y = Tensor::empty();
        pool.forward(&x, &mut y);
        assert_eq!(y.dims, [1, 2, 2, 2]);
        assert_eq!(y.data, [5.0, 4.0, 5.0, 5.0, 5.0, 7.0, 5.0, 8.0]);
        let dy = Tensor::from_vec(y.dims, vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0, 4.0, 40.0]);
        let mut dx = Tensor::empty();
        pool.backward(&x, &y, &dy, &mut dx);
        // Output (oy, ox) reads rows oy..oy+2 and columns ox..ox+2 (clipped), so channel 0's
        // first elements are positions 0, 1, 3, 4, and channel 1's maxima are 4, 5, 7, 8.
        let channel0: Vec<f32> = dx.data.iter().step_by(2).copied().collect();
        assert_eq!(channel0, [1.0, 2.0, 0.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0]);
        let channel1: Vec<f32> = dx.data.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(channel1, [0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 0.0, 30.0, 40.0]);
    }
}
