//! Gradient reversal (Ganin & Lempitsky, 2015): identity forward, `dx = −scale·dy` backward.

use crate::engine::tensor::{Tensor, add_scaled};

/// Adds the reversed gradient `−scale·dout` to `dinput` (the gradient of the layer below, which
/// may already hold other contributions).
pub fn grad_reversal_backward(dout: &Tensor, scale: f32, dinput: &mut Tensor) {
    add_scaled(dinput, dout, -scale);
}
