//! Max pooling with a square window, stride and implicit −∞ padding (PyTorch's MaxPool2d).
//! Backward routes each output gradient to the first maximum of its window in scan order, the
//! element PyTorch picks.

use crate::engine::tensor::{Tensor, items_per_task};
use rayon::prelude::*;

/// A max-pooling layer that remembers where each maximum came from.
#[derive(Debug, Clone)]
pub struct MaxPool2d {
    /// Window side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Padding.
    pub padding: usize,
    /// For each output, the index of its maximum within the input item.
    argmax: Vec<u32>,
    input_dims: [usize; 4],
}

impl MaxPool2d {
    /// A pooling layer.
    pub fn new(kernel: usize, stride: usize, padding: usize) -> MaxPool2d {
        MaxPool2d {
            kernel,
            stride,
            padding,
            argmax: Vec::new(),
            input_dims: [0; 4],
        }
    }

    fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Forward pass into `out`.
    pub fn forward(&mut self, input: &Tensor, out: &mut Tensor) {
        let [n, h, w, c] = input.dims;
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        out.resize([n, oh, ow, c]);
        self.argmax.resize(out.data.len(), 0);
        let per_task = items_per_task(n);
        let (k, s, p) = (self.kernel, self.stride, self.padding as isize);
        out.data
            .par_chunks_mut(per_task * oh * ow * c)
            .zip(self.argmax.par_chunks_mut(per_task * oh * ow * c))
            .zip(input.data.par_chunks(per_task * h * w * c))
            .for_each(|((out, arg), input)| {
                for (img, (out, arg)) in out
                    .chunks_mut(oh * ow * c)
                    .zip(arg.chunks_mut(oh * ow * c))
                    .enumerate()
                {
                    let x = &input[img * h * w * c..][..h * w * c];
                    for oy in 0..oh {
                        for ox in 0..ow {
                            let o = (oy * ow + ox) * c;
                            out[o..o + c].fill(f32::NEG_INFINITY);
                            for ky in 0..k {
                                let iy = (oy * s + ky) as isize - p;
                                if iy < 0 || iy as usize >= h {
                                    continue;
                                }
                                for kx in 0..k {
                                    let ix = (ox * s + kx) as isize - p;
                                    if ix < 0 || ix as usize >= w {
                                        continue;
                                    }
                                    let i = (iy as usize * w + ix as usize) * c;
                                    // Strictly greater keeps the first maximum in scan order,
                                    // as PyTorch does; selects keep the loop vectorized.
                                    let (out, arg) = (&mut out[o..o + c], &mut arg[o..o + c]);
                                    for (ch, ((m, a), &v)) in out
                                        .iter_mut()
                                        .zip(arg.iter_mut())
                                        .zip(&x[i..i + c])
                                        .enumerate()
                                    {
                                        let better = v > *m;
                                        *m = if better { v } else { *m };
                                        *a = if better { (i + ch) as u32 } else { *a };
                                    }
                                }
                            }
                        }
                    }
                }
            });
        self.input_dims = input.dims;
    }

    /// Backward pass: writes the input gradient into `dx`.
    pub fn backward(&self, dout: &Tensor, dx: &mut Tensor) {
        let [n, h, w, c] = self.input_dims;
        let item_out = dout.item_len();
        dx.resize(self.input_dims);
        dx.zero();
        let per_task = items_per_task(n);
        dx.data
            .par_chunks_mut(per_task * h * w * c)
            .zip(dout.data.par_chunks(per_task * item_out))
            .zip(self.argmax.par_chunks(per_task * item_out))
            .for_each(|((dx, dy), arg)| {
                for (img, (dy, arg)) in dy.chunks(item_out).zip(arg.chunks(item_out)).enumerate() {
                    let d = &mut dx[img * h * w * c..][..h * w * c];
                    for (g, &a) in dy.iter().zip(arg) {
                        d[a as usize] += g;
                    }
                }
            });
    }
}
