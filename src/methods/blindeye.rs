//! One BlindEye iteration (Alvi et al., 2018) in the same two-phase frame as LNTL:
//! phase 1 trains f, g on `CE + λ·(1/3)·Σ_h mean(−(1/K)·Σ_k log p_k)` (confuse the heads);
//! phase 2 trains the heads on φ with no gradient into f.

use crate::engine::sgd::SgdConfig;
use crate::methods::LearningRates;
use crate::methods::batch::Batch;
use crate::methods::head_losses::heads_confusion;
use crate::methods::lntl::{AdversarialLosses, HeadTerm, color_phase, feature_phase};
use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;

/// One BlindEye iteration with confusion weight `lambda`.
pub fn blindeye_step(
    net: &mut ConvNet,
    heads: &mut ColorHeads,
    batch: &Batch,
    lr: LearningRates,
    sgd: &SgdConfig,
    lambda: f32,
) -> AdversarialLosses {
    // Phase 1: the digit loss plus λ·(confusion of the heads); f and g step.
    let confusion = HeadTerm {
        lambda,
        loss: heads_confusion,
    };
    let (classifier, regularizer) = feature_phase(net, heads, batch, lr, sgd, confusion);
    // Phase 2: the heads learn the colors from φ, with no gradient into f.
    let color = color_phase(net, heads, batch, lr, sgd, None);
    AdversarialLosses {
        classifier,
        regularizer,
        color,
    }
}
