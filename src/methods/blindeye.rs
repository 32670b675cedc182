//! One BlindEye iteration (Alvi et al., 2018) in the same two-phase frame as LNTL:
//! phase 1 trains f, g on `CE + λ·(1/3)·Σ_h mean(−(1/K)·Σ_k log p_k)` (confuse the heads);
//! phase 2 trains the heads on φ with no gradient into f.

use crate::engine::sgd::SgdConfig;
use crate::methods::LearningRates;
use crate::methods::batch::Batch;
use crate::methods::head_losses::heads_confusion;
use crate::methods::lntl::{AdversarialLosses, adversarial_step};
use crate::models::bias_heads::BiasHeads;
use crate::models::convnet::ConvNet;

/// One BlindEye iteration with confusion weight `lambda`.
pub fn blindeye_step(
    net: &mut ConvNet,
    heads: &mut BiasHeads,
    batch: &Batch,
    lr: LearningRates,
    sgd: &SgdConfig,
    lambda: f32,
) -> AdversarialLosses {
    adversarial_step(net, heads, batch, lr, sgd, lambda, heads_confusion, None)
}
