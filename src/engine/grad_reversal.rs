//! Gradient reversal (Ganin & Lempitsky, 2015): identity forward, `dx = −scale·dy` backward.

use crate::engine::tensor::Tensor;

/// Reverses and scales a gradient in place: `dy ← −scale·dy`.
pub fn grad_reversal_backward(dout: &mut Tensor, scale: f32) {
    dout.data.iter_mut().for_each(|g| *g *= -scale);
}
