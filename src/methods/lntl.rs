//! One LNTL iteration (docs/SPEC.md §3), exactly as the authors' trainer does it.
//!
//! Phase 1: `L₁ = CE(g(f(x)), y) + λ·(1/3)·Σ_h mean(Σ_k p_k log p_k)`; backpropagate into f and g
//! (the heads pass the entropy gradient to φ, their own weight gradients are never used, so
//! they are not computed); one SGD step on f, g.
//! Phase 2: forward f again with the new weights; `L₂ = Σ_h CE_h(h(GRL(φ)), b_h)`; the heads
//! learn the colors, and f receives `−μ ×` the gradient through the reversal; one SGD step on
//! f (sharing phase 1's momentum buffer) and on the heads. g takes no part in phase 2, so its
//! forward is skipped and its parameters are not stepped (as PyTorch skips `.grad is None`).

use crate::engine::grad_reversal::grad_reversal_backward;
use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::engine::tensor::Tensor;
use crate::methods::baseline::{ClassifierStep, classification_loss, count_correct};
use crate::methods::batch::Batch;
use crate::methods::head_losses::{heads_accuracy, heads_cross_entropy, heads_neg_entropy};
use crate::methods::{LearningRates, zero_grads};
use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;

/// The losses of one adversarial iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AdversarialLosses {
    /// Digit cross-entropy and training accuracy (phase 1).
    pub classifier: ClassifierStep,
    /// The regularizer on f's features (phase 1), before multiplying by λ.
    pub regularizer: f32,
    /// The color heads' loss and accuracy (phase 2).
    pub color: ColorStep,
}

/// Loss and accuracy of one color-head update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColorStep {
    /// Σ over heads of the per-pixel color cross-entropy.
    pub loss: f32,
    /// Labelled pixels whose bin the heads predicted (before the update), over the three heads.
    pub correct: usize,
    /// Labelled pixels, over the three heads.
    pub labelled: usize,
}

/// LNTL's strengths.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LntlConfig {
    /// λ, the weight of the negative-entropy term.
    pub lambda: f32,
    /// μ, the gradient reversal scale.
    pub grl_scale: f32,
    /// The authors' code under the PyTorch of its time (0.4, before `zero_grad` set gradients
    /// to None): g's gradients were zeroed, not removed, before phase 2, so the phase-2 step of
    /// the shared optimizer also moved g, by momentum and weight decay alone.
    #[serde(default)]
    pub legacy_zero_grad: bool,
}

impl LntlConfig {
    /// The paper's strengths: λ = 0.01, μ = 0.1 (docs/SPEC.md §3), on today's PyTorch semantics.
    pub const PAPER: LntlConfig = LntlConfig {
        lambda: 0.01,
        grl_scale: 0.1,
        legacy_zero_grad: false,
    };
}

/// How f takes part in phase 2 (`None` in [`color_phase`]: it does not).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reversal {
    /// μ: f receives `−μ ×` the heads' gradient through the reversal layer and takes a step.
    pub scale: f32,
    /// g also takes that step, with a zero gradient (see [`LntlConfig::legacy_zero_grad`]).
    pub step_classifier: bool,
}

/// Phase 2 of LNTL and the heads-only warm-up: the heads learn the colors from φ; with
/// `reversal`, f also receives `−μ ×` their gradient and takes an SGD step.
pub fn color_phase(
    net: &mut ConvNet,
    heads: &mut ColorHeads,
    batch: &Batch,
    lr: LearningRates,
    sgd: &SgdConfig,
    reversal: Option<Reversal>,
) -> ColorStep {
    zero_grads(net.params_mut());
    zero_grads(heads.params_mut());
    net.forward_features(&batch.x, true);
    heads.forward(net.features(), true);
    let (logits, dlogits) = heads.logits_and_grad();
    let loss = heads_cross_entropy(logits, &batch.bias, dlogits);
    let (correct, labelled) = heads_accuracy(logits, &batch.bias);
    let dphi = heads.backward(net.features(), true);
    if let Some(reversal) = reversal {
        net.zero_feature_grad();
        grad_reversal_backward(dphi, reversal.scale, net.feature_grad_mut());
        net.backward_features();
        if reversal.step_classifier {
            // Zeroed, not absent: the optimizer steps g by momentum and weight decay alone.
            net.classifier_params_mut()
                .into_iter()
                .for_each(|p| p.has_grad = true);
        }
        sgd_step(net.params_mut(), lr.features, sgd);
    }
    sgd_step(heads.params_mut(), lr.heads, sgd);
    ColorStep {
        loss,
        correct,
        labelled,
    }
}

/// A loss on the heads' logits that phase 1 adds to the digit loss: it writes `scale ×` its
/// gradient into the logits' gradient and returns its value.
pub type HeadRegularizer = fn(&Tensor, f32, &mut Tensor) -> f32;

/// The term phase 1 adds to the digit loss: `lambda ×` a loss on the heads' predictions.
#[derive(Debug, Clone, Copy)]
pub struct HeadTerm {
    /// Its weight, λ.
    pub lambda: f32,
    /// The loss: LNTL's negative entropy, or BlindEye's confusion.
    pub loss: HeadRegularizer,
}

/// Phase 1 of LNTL and BlindEye: f and g learn the digit while `term` acts on the heads'
/// predictions from φ; one SGD step on f and g. Returns the classifier's loss and accuracy and
/// the term's value (before λ).
pub fn feature_phase(
    net: &mut ConvNet,
    heads: &mut ColorHeads,
    batch: &Batch,
    lr: LearningRates,
    sgd: &SgdConfig,
    term: HeadTerm,
) -> (ClassifierStep, f32) {
    zero_grads(net.params_mut());
    // Forward: φ = f(x), the heads' logits on φ, and the term's value and gradient on them.
    net.forward_features(&batch.x, true);
    heads.forward(net.features(), true);
    let (head_logits, dhead) = heads.logits_and_grad();
    let regularization = (term.loss)(head_logits, term.lambda, dhead);
    // The digit: logits g(φ) and the cross-entropy's gradient.
    let logits = net.forward_classifier();
    let mut dlogits = Tensor::zeros(logits.dims);
    let classifier = ClassifierStep {
        loss: classification_loss(logits, &batch.labels, &mut dlogits),
        correct: count_correct(logits, &batch.labels),
    };
    // Backward: g writes dφ, the heads add the term's share (their own weight gradients are
    // never used, so not formed), then f; one step on f and g.
    net.backward_classifier(&dlogits);
    net.add_feature_grad(heads.backward(net.features(), false));
    net.backward_features();
    sgd_step(net.params_mut(), lr.features, sgd);
    (classifier, regularization)
}

/// One LNTL iteration at learning rates `lr`.
pub fn lntl_step(
    net: &mut ConvNet,
    heads: &mut ColorHeads,
    batch: &Batch,
    lr: LearningRates,
    sgd: &SgdConfig,
    config: &LntlConfig,
) -> AdversarialLosses {
    // Phase 1: the digit loss plus λ·mean(Σ p log p), which pushes the heads' predictions from
    // φ toward uniform; f and g step.
    let entropy = HeadTerm {
        lambda: config.lambda,
        loss: heads_neg_entropy,
    };
    let (classifier, regularizer) = feature_phase(net, heads, batch, lr, sgd, entropy);
    // Phase 2: the heads learn the colors from the new φ; f receives −μ × their gradient
    // through the reversal layer; f and the heads step.
    let reversal = Reversal {
        scale: config.grl_scale,
        step_classifier: config.legacy_zero_grad,
    };
    let color = color_phase(net, heads, batch, lr, sgd, Some(reversal));
    AdversarialLosses {
        classifier,
        regularizer,
        color,
    }
}
