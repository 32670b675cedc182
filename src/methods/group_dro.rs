//! Online Group DRO (Sagawa et al., ICLR 2020, their `compute_robust_loss` without the
//! generalization adjustment), the bias-label-using reference of LfF's table: with the training
//! digits split into the 100 (digit, color) groups, the loss is `Σ_g q_g · L_g`, where `L_g` is
//! the batch's mean cross-entropy over group g (0 for a group absent from the batch) and the
//! group weights follow exponentiated gradient ascent, `q_g ← q_g · exp(η · L_g)`, then
//! `q ← q / Σ q`, before the loss is formed; q starts uniform.

use crate::data::mnist::CLASSES;
use crate::engine::adam::Adam;
use crate::engine::tensor::Tensor;
use crate::engine::weighted_cross_entropy::{per_sample_cross_entropy, weighted_cross_entropy};
use crate::methods::baseline::{ClassifierStep, count_correct};
use crate::methods::zero_grads;
use crate::models::mlp::Mlp;

/// Groups: digit × color.
pub const GROUPS: usize = CLASSES * CLASSES;

/// The group weights q and their step size η.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupWeights {
    /// η.
    pub step_size: f32,
    /// q, one per (digit, color) group, summing to 1.
    pub q: Vec<f32>,
}

impl GroupWeights {
    /// Uniform weights.
    pub fn new(step_size: f32) -> GroupWeights {
        GroupWeights {
            step_size,
            q: vec![1.0 / GROUPS as f32; GROUPS],
        }
    }
}

/// One Group DRO iteration on the images `x` with digit labels `labels` and color indices
/// `colors`: the weights move first, then the network takes one Adam step on `Σ_g q_g · L_g`.
pub fn group_dro_step(
    net: &mut Mlp,
    adam: &mut Adam,
    weights: &mut GroupWeights,
    x: &Tensor,
    labels: &[u8],
    colors: &[u8],
) -> ClassifierStep {
    zero_grads(net.params_mut());
    let logits = net.forward(x).clone();
    let losses = per_sample_cross_entropy(&logits.data, labels, CLASSES);
    let groups: Vec<usize> = labels
        .iter()
        .zip(colors)
        .map(|(&l, &c)| usize::from(l) * CLASSES + usize::from(c))
        .collect();
    let mut counts = vec![0usize; GROUPS];
    let mut sums = vec![0f32; GROUPS];
    for (&g, &loss) in groups.iter().zip(&losses) {
        counts[g] += 1;
        sums[g] += loss;
    }
    let group_loss: Vec<f32> = sums
        .iter()
        .zip(&counts)
        .map(|(&s, &n)| s / n.max(1) as f32)
        .collect();
    for (q, &loss) in weights.q.iter_mut().zip(&group_loss) {
        *q *= (weights.step_size * loss).exp();
    }
    let total: f32 = weights.q.iter().sum();
    weights.q.iter_mut().for_each(|q| *q /= total);
    // Σ_g q_g · L_g as a mean over the batch: row i weighs N · q_g / n_g.
    let n = labels.len() as f32;
    let row_weights: Vec<f32> = groups
        .iter()
        .map(|&g| n * weights.q[g] / counts[g] as f32)
        .collect();
    let mut dlogits = Tensor::zeros(logits.dims);
    let loss = weighted_cross_entropy(
        &logits.data,
        labels,
        &row_weights,
        CLASSES,
        &mut dlogits.data,
    );
    net.backward(&dlogits);
    adam.step(net.params_mut());
    ClassifierStep {
        loss,
        correct: count_correct(&logits, labels),
    }
}
