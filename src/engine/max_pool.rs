//! Max pooling with a square window, stride and implicit −∞ padding (PyTorch's MaxPool2d).
//!
//! Forward keeps only the maxima, so its inner loop is a plain vectorized `max` over the
//! channels. Backward finds, for each output, the first element of its window (in scan order,
//! the element PyTorch picks) that equals the output, and routes the gradient there. The caller
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
        dx.zero();
        let per_task = items_per_task(n);
        dx.data
            .par_chunks_mut(per_task * h * w * c)
            .zip(input.data.par_chunks(per_task * h * w * c))
            .zip(output.data.par_chunks(per_task * oh * ow * c))
            .zip(dout.data.par_chunks(per_task * oh * ow * c))
            .for_each(|(((dx, x), y), dy)| {
                let mut source = vec![0u32; c];
                let items = dx
                    .chunks_mut(h * w * c)
                    .zip(x.chunks(h * w * c))
                    .zip(y.chunks(oh * ow * c))
                    .zip(dy.chunks(oh * ow * c));
                for (((dx, x), y), dy) in items {
                    for oy in 0..oh {
                        let (y0, y1) = window(oy, self, h);
                        for ox in 0..ow {
                            let (x0, x1) = window(ox, self, w);
                            let o = (oy * ow + ox) * c;
                            let m = &y[o..o + c];
                            // Scanning the window backwards, the last match seen is the first
                            // in scan order; the select keeps the loop vectorized.
                            for iy in (y0..y1).rev() {
                                for ix in (x0..x1).rev() {
                                    let i = (iy * w + ix) * c;
                                    for (ch, (s, (&v, &m))) in
                                        source.iter_mut().zip(x[i..i + c].iter().zip(m)).enumerate()
                                    {
                                        *s = if v == m { (i + ch) as u32 } else { *s };
                                    }
                                }
                            }
                            for (&s, &g) in source.iter().zip(&dy[o..o + c]) {
                                dx[s as usize] += g;
                            }
                        }
                    }
                }
            });
    }
}
