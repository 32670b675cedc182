//! The training methods of the paper's table, each as one iteration on a batch:
//! baseline, LNTL (the paper's method), BlindEye (Alvi et al., 2018). Gray is the baseline step on
//! gray-scale batches. On LfF's Colored-MNIST (docs/LFF.md): vanilla, LfF, Group DRO and LNTL
//! with an image-level color head on its MLP.

pub mod baseline;
pub mod batch;
pub mod blindeye;
pub mod conv_lff;
pub mod group_dro;
pub mod head_losses;
pub mod lff;
pub mod lntl;
pub mod mlp_lntl;
pub mod sample_loss_averages;
pub mod vanilla;

use crate::engine::param::Param;

/// The learning rates of one adversarial iteration: f and g share one optimizer, the color heads
/// have their own. They differ only in the first epoch of the authors' warm start (docs/SPEC.md §3),
/// where f and g keep the rate their baseline optimizer ended with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LearningRates {
    /// The rate of f and g.
    pub features: f32,
    /// The rate of the color heads.
    pub heads: f32,
}

impl LearningRates {
    /// One rate for every optimizer.
    pub fn same(lr: f32) -> LearningRates {
        LearningRates {
            features: lr,
            heads: lr,
        }
    }
}

/// Forgets the gradients of `params`.
pub fn zero_grads(params: Vec<&mut Param>) {
    params.into_iter().for_each(Param::zero_grad);
}
