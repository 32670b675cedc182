//! Learning from Failure (Nam et al., NeurIPS 2020), one iteration as LfF's `train.py` does it
//! (docs/LFF.md §3). Two MLPs learn at once from the digit labels alone: the biased model f_B
//! with the generalized cross-entropy, which amplifies the easy (bias-aligned) samples, and the
//! debiased model f_D with each sample's cross-entropy weighted by how much harder f_B finds it
//! than f_D does, `W = ẽ_B / (ẽ_B + ẽ_D + 1e-8)` over class-normalized moving averages of the
//! per-sample losses. Loss `mean(q · p_y^q · CE_B) + mean(W · CE_D)`, the weights held
//! constant; one Adam step per model.

use crate::data::mnist::CLASSES;
use crate::engine::adam::{Adam, AdamConfig};
use crate::engine::tensor::Tensor;
use crate::engine::weighted_cross_entropy::{
    gce_weights, per_sample_cross_entropy, weighted_cross_entropy,
};
use crate::methods::baseline::count_correct;
use crate::methods::sample_loss_averages::{SampleLossAverages, relative_difficulty};
use crate::methods::zero_grads;
use crate::models::mlp::Mlp;
use rand_chacha::ChaCha8Rng;

/// The generalized cross-entropy's q (LfF's `GeneralizedCELoss` default).
pub const GCE_Q: f32 = 0.7;
/// The decay α of the per-sample loss averages (LfF's `EMA(…, alpha=0.7)`).
pub const LOSS_AVERAGE_ALPHA: f32 = 0.7;

/// The per-sample loss averages of both models over the training set.
#[derive(Debug, Clone, PartialEq)]
pub struct LffAverages {
    /// Moving averages of f_B's per-sample cross-entropies.
    pub biased: SampleLossAverages,
    /// Moving averages of f_D's per-sample cross-entropies.
    pub debiased: SampleLossAverages,
}

impl LffAverages {
    /// Averages for a training set of classes `train_labels`, none visited yet.
    pub fn new(train_labels: &[u8]) -> LffAverages {
        LffAverages {
            biased: SampleLossAverages::new(train_labels, LOSS_AVERAGE_ALPHA),
            debiased: SampleLossAverages::new(train_labels, LOSS_AVERAGE_ALPHA),
        }
    }
}

/// LfF's losses on one batch of the training samples `indices` with digit labels `labels`,
/// whatever the networks, from f_B's logits `logits_b` and f_D's `logits_d`: takes the batch's
/// cross-entropies into the averages, then writes each model's d(loss)/d(logits) into
/// `dlogits_b` and `dlogits_d` (zeroed by the caller). Returns the measurements, `correct`
/// counting f_D's rows.
pub fn lff_losses(
    averages: &mut LffAverages,
    (logits_b, logits_d): (&Tensor, &Tensor),
    labels: &[u8],
    indices: &[usize],
    (dlogits_b, dlogits_d): (&mut Tensor, &mut Tensor),
) -> LffStep {
    averages.biased.update(
        indices,
        &per_sample_cross_entropy(&logits_b.data, labels, CLASSES),
    );
    averages.debiased.update(
        indices,
        &per_sample_cross_entropy(&logits_d.data, labels, CLASSES),
    );
    let weights = relative_difficulty(&averages.biased, &averages.debiased, indices);
    let gce = gce_weights(&logits_b.data, labels, CLASSES, GCE_Q);
    let biased_loss =
        weighted_cross_entropy(&logits_b.data, labels, &gce, CLASSES, &mut dlogits_b.data);
    let debiased_loss = weighted_cross_entropy(
        &logits_d.data,
        labels,
        &weights,
        CLASSES,
        &mut dlogits_d.data,
    );
    LffStep {
        biased_loss,
        debiased_loss,
        mean_weight: weights.iter().sum::<f32>() / weights.len() as f32,
        correct: count_correct(logits_d, labels),
    }
}

/// Both models, their optimizers and the per-sample loss averages over the training set.
#[derive(Debug, Clone)]
pub struct Lff {
    /// f_B, trained with the generalized cross-entropy.
    pub biased: Mlp,
    /// f_D, trained with the reweighted cross-entropy: the classifier LfF reports.
    pub debiased: Mlp,
    /// f_B's optimizer.
    pub biased_adam: Adam,
    /// f_D's optimizer.
    pub debiased_adam: Adam,
    /// Both models' per-sample loss averages.
    pub averages: LffAverages,
}

/// What one LfF iteration measured, before its update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LffStep {
    /// f_B's mean generalized cross-entropy (LfF's form).
    pub biased_loss: f32,
    /// f_D's mean weighted cross-entropy.
    pub debiased_loss: f32,
    /// The mean weight W of the batch.
    pub mean_weight: f32,
    /// Rows f_D classified correctly.
    pub correct: usize,
}

impl Lff {
    /// Two freshly initialized MLPs (f_B first, then f_D, from `rng`, as LfF builds them) for a
    /// training set of classes `train_labels`.
    pub fn new(train_labels: &[u8], adam: AdamConfig, rng: &mut ChaCha8Rng) -> Lff {
        let biased = Mlp::new(rng);
        let debiased = Mlp::new(rng);
        Lff {
            biased,
            debiased,
            biased_adam: Adam::new(adam),
            debiased_adam: Adam::new(adam),
            averages: LffAverages::new(train_labels),
        }
    }

    /// One iteration on the training samples `indices`, whose images are `x` (from `mlp_input`)
    /// and digit labels `labels`.
    pub fn step(&mut self, x: &Tensor, labels: &[u8], indices: &[usize]) -> LffStep {
        zero_grads(self.biased.params_mut());
        zero_grads(self.debiased.params_mut());
        let logits_b = self.biased.forward(x).clone();
        let logits_d = self.debiased.forward(x).clone();
        let mut dlogits_b = Tensor::zeros(logits_b.dims);
        let mut dlogits_d = Tensor::zeros(logits_d.dims);
        let step = lff_losses(
            &mut self.averages,
            (&logits_b, &logits_d),
            labels,
            indices,
            (&mut dlogits_b, &mut dlogits_d),
        );
        self.biased.backward(&dlogits_b);
        self.debiased.backward(&dlogits_d);
        self.biased_adam.step(self.biased.params_mut());
        self.debiased_adam.step(self.debiased.params_mut());
        step
    }
}
