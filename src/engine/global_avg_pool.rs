//! Global average pooling: `y[n,c] = mean over (h,w) of x[n,h,w,c]`; backward spreads
//! `dy/(H·W)` evenly.

use crate::engine::tensor::{Tensor, add_to};
use rayon::prelude::*;

/// Forward: writes the N×1×1×C channel means into `out`.
pub fn global_avg_pool_forward(x: &Tensor, out: &mut Tensor) {
    let [n, h, w, c] = x.dims;
    out.resize([n, 1, 1, c]);
    let scale = 1.0 / (h * w) as f32;
    out.data
        .par_chunks_exact_mut(c)
        .zip(x.data.par_chunks_exact(h * w * c))
        .for_each(|(o, item)| {
            o.fill(0.0);
            for px in item.chunks_exact(c) {
                add_to(o, px);
            }
            o.iter_mut().for_each(|v| *v *= scale);
        });
}

/// Backward: writes the gradient of an input of `dims` into `dx`.
pub fn global_avg_pool_backward(dout: &Tensor, dims: [usize; 4], dx: &mut Tensor) {
    let [_, h, w, c] = dims;
    let scale = 1.0 / (h * w) as f32;
    dx.resize(dims);
    dx.data
        .par_chunks_exact_mut(h * w * c)
        .zip(dout.data.par_chunks_exact(c))
        .for_each(|(item, g)| {
            for px in item.chunks_exact_mut(c) {
                px.iter_mut().zip(g).for_each(|(d, g)| *d = g * scale);
            }
        });
}
