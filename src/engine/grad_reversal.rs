//! Gradient reversal (Ganin & Lempitsky, 2015): identity forward, `dx = −scale·dy` backward.

use crate::engine::tensor::Tensor;

/// Adds the reversed gradient `−scale·dout` to `dinput` (the gradient of the layer below, which
/// may already hold other contributions).
pub fn grad_reversal_backward(dout: &Tensor, scale: f32, dinput: &mut Tensor) {
    assert_eq!(dout.dims, dinput.dims, "gradient reversal shapes");
    dinput
        .data
        .iter_mut()
        .zip(&dout.data)
        .for_each(|(d, g)| *d -= scale * g);
}
