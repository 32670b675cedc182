//! LNTL on LfF's benchmark (docs/LFF.md, "LNTL on the MLP"): the two-phase iteration of
//! docs/SPEC.md §3 with LfF's MLP split into f (the three hidden layers, φ = the last one after
//! its ReLU) and g (the classifier), and one image-level color head h = Linear(100 → 10) on φ
//! whose label is the image's color index, in place of the paper's three per-pixel heads.
//!
//! Phase 1: `L₁ = CE(g(f(x)), y) + λ · mean_n(Σ_k p_k log p_k)`, p = softmax(h(φ)); f and g
//! take an Adam step (the head passes the entropy's gradient into φ; its own weight gradients
//! are not used).
//! Phase 2: φ again with the new weights; `L₂ = CE(h(GRL(φ)), color)`; the head learns the
//! colors, f receives `−μ ×` its gradient and takes a second step of the same Adam (g has no
//! gradient and is skipped, as PyTorch skips `.grad is None`); the head takes a step of its own
//! Adam.

use crate::data::mnist::CLASSES;
use crate::engine::adam::{Adam, AdamConfig};
use crate::engine::grad_reversal::grad_reversal_backward;
use crate::engine::linear::Linear;
use crate::engine::neg_entropy::neg_entropy;
use crate::engine::param::Param;
use crate::engine::softmax::RowLayout;
use crate::engine::tensor::{Tensor, add_to};
use crate::methods::baseline::{ClassifierStep, classification_loss, count_correct};
use crate::methods::zero_grads;
use crate::models::mlp::{MLP_COLORS, Mlp, mlp_color_head};
use rand_chacha::ChaCha8Rng;

// The head's loss and accuracy reuse the digit's, whose rows hold 10 logits.
const _: () = assert!(MLP_COLORS == CLASSES);

/// The classifier, its color head, their optimizers and LNTL's strengths.
#[derive(Debug, Clone)]
pub struct MlpLntl {
    /// f and g: LfF's MLP, the classifier LNTL reports.
    pub net: Mlp,
    /// h: the color head on φ.
    pub head: Linear,
    /// f and g's optimizer, stepped in both phases.
    pub net_adam: Adam,
    /// The head's optimizer.
    pub head_adam: Adam,
    /// λ, the weight of the negative-entropy term.
    pub lambda: f32,
    /// μ, the gradient reversal scale.
    pub grl_scale: f32,
}

/// What one iteration measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MlpLntlStep {
    /// The digit's cross-entropy and the rows classified correctly (phase 1).
    pub classifier: ClassifierStep,
    /// The mean negative entropy of the head's predictions (phase 1), before λ.
    pub regularizer: f32,
    /// The head's color cross-entropy (phase 2).
    pub color_loss: f32,
    /// Rows whose color the head predicted (phase 2, before its update).
    pub color_correct: usize,
}

/// The head's parameters in PyTorch's order.
pub fn head_params(head: &mut Linear) -> Vec<&mut Param> {
    vec![&mut head.weight, &mut head.bias]
}

impl MlpLntl {
    /// A fresh MLP and then its head, from `rng`, with Adam `adam` for each and the strengths
    /// λ = `lambda`, μ = `grl_scale`.
    pub fn new(adam: AdamConfig, lambda: f32, grl_scale: f32, rng: &mut ChaCha8Rng) -> MlpLntl {
        let net = Mlp::new(rng);
        let head = mlp_color_head(rng);
        MlpLntl {
            net,
            head,
            net_adam: Adam::new(adam),
            head_adam: Adam::new(adam),
            lambda,
            grl_scale,
        }
    }

    /// The head's parameters.
    pub fn head_params_mut(&mut self) -> Vec<&mut Param> {
        head_params(&mut self.head)
    }

    /// One iteration on the images `x` (from `mlp_input`) with digit labels `labels` and color
    /// indices `colors`.
    pub fn step(&mut self, x: &Tensor, labels: &[u8], colors: &[u8]) -> MlpLntlStep {
        let (classifier, regularizer) = self.feature_phase(x, labels);
        let (color_loss, color_correct) = self.color_phase(x, colors);
        MlpLntlStep {
            classifier,
            regularizer,
            color_loss,
            color_correct,
        }
    }

    /// Phase 1: the digit loss plus λ × the head's mean negative entropy; f and g step.
    fn feature_phase(&mut self, x: &Tensor, labels: &[u8]) -> (ClassifierStep, f32) {
        zero_grads(self.net.params_mut());
        let phi = self.net.forward_features(x).clone();
        let head_logits = self.head.forward(&phi);
        let mut dhead = Tensor::zeros(head_logits.dims);
        let regularizer = neg_entropy(
            &head_logits.data,
            RowLayout::packed(MLP_COLORS),
            head_logits.batch(),
            self.lambda,
            Some(&mut dhead.data),
        );
        let logits = self.net.forward_classifier().clone();
        let mut dlogits = Tensor::zeros(logits.dims);
        let classifier = ClassifierStep {
            loss: classification_loss(&logits, labels, &mut dlogits),
            correct: count_correct(&logits, labels),
        };
        let mut dphi = self.net.backward_classifier(&dlogits);
        add_to(&mut dphi.data, &self.head.backward(&dhead, phi.dims).data);
        self.net.backward_features(dphi);
        self.net_adam.step(self.net.params_mut());
        (classifier, regularizer)
    }

    /// Phase 2: the head learns the colors from the new φ; f receives `−μ ×` its gradient;
    /// f and the head step.
    fn color_phase(&mut self, x: &Tensor, colors: &[u8]) -> (f32, usize) {
        zero_grads(self.net.params_mut());
        zero_grads(head_params(&mut self.head));
        let phi = self.net.forward_features(x).clone();
        let head_logits = self.head.forward(&phi);
        let mut dhead = Tensor::zeros(head_logits.dims);
        let loss = classification_loss(&head_logits, colors, &mut dhead);
        let correct = count_correct(&head_logits, colors);
        let dphi_head = self.head.backward(&dhead, phi.dims);
        let mut dphi = Tensor::zeros(phi.dims);
        grad_reversal_backward(&dphi_head, self.grl_scale, &mut dphi);
        self.net.backward_features(dphi);
        self.net_adam.step(self.net.params_mut());
        self.head_adam.step(head_params(&mut self.head));
        (loss, correct)
    }
}
