//! ReLU: `y = max(x, 0)`; backward `dx = dy · [y > 0]` (PyTorch's subgradient 0 at 0).

use crate::engine::tensor::Tensor;
use rayon::prelude::*;

const CHUNK: usize = 1 << 14;

/// Applies ReLU in place.
pub fn relu_forward(x: &mut Tensor) {
    x.data.par_chunks_mut(CHUNK).for_each(relu_values);
}

/// Applies ReLU in place to a slice, on the calling thread (for layers that fuse it).
pub fn relu_values(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = v.max(0.0));
}

/// Masks `dout` in place with the ReLU output `y` of the forward pass.
pub fn relu_backward(y: &Tensor, dout: &mut Tensor) {
    dout.data
        .par_chunks_mut(CHUNK)
        .zip(y.data.par_chunks(CHUNK))
        .for_each(|(d, y)| {
            // A select rather than a branch, so the loop vectorizes.
            d.iter_mut()
                .zip(y)
                .for_each(|(d, &y)| *d = if y > 0.0 { *d } else { 0.0 });
        });
}
