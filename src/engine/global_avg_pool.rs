//! Global average pooling: `y[n,c] = mean over (h,w) of x[n,h,w,c]`; backward spreads
//! `dy/(H·W)` evenly.

use crate::engine::tensor::Tensor;

/// Forward: an N×1×1×C tensor of channel means.
pub fn global_avg_pool_forward(x: &Tensor) -> Tensor {
    let [n, h, w, c] = x.dims;
    let mut out = Tensor::zeros([n, 1, 1, c]);
    let scale = 1.0 / (h * w) as f32;
    for (o, item) in out
        .data
        .chunks_exact_mut(c)
        .zip(x.data.chunks_exact(h * w * c))
    {
        for px in item.chunks_exact(c) {
            o.iter_mut().zip(px).for_each(|(o, v)| *o += v);
        }
        o.iter_mut().for_each(|v| *v *= scale);
    }
    out
}

/// Backward: the input gradient for an input of `dims`.
pub fn global_avg_pool_backward(dout: &Tensor, dims: [usize; 4]) -> Tensor {
    let [_, h, w, c] = dims;
    let scale = 1.0 / (h * w) as f32;
    let mut dx = Tensor::zeros(dims);
    for (item, g) in dx
        .data
        .chunks_exact_mut(h * w * c)
        .zip(dout.data.chunks_exact(c))
    {
        for px in item.chunks_exact_mut(c) {
            px.iter_mut().zip(g).for_each(|(d, g)| *d = g * scale);
        }
    }
    dx
}
