//! The training methods of the paper's table, each as one iteration on a batch:
//! baseline, LNTL (the paper's method), BlindEye (Alvi et al., 2018). Gray is the baseline step on
//! gray-scale batches.

pub mod baseline;
pub mod batch;
pub mod blindeye;
pub mod head_losses;
pub mod lntl;

use crate::engine::param::Param;

/// Forgets the gradients of `params`.
pub fn zero_grads(params: Vec<&mut Param>) {
    params.into_iter().for_each(Param::zero_grad);
}
