//! The baseline iteration: cross-entropy on the digit label, one SGD step on f and g.

use crate::data::mnist::CLASSES;
use crate::engine::cross_entropy::cross_entropy;
use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::engine::softmax::RowLayout;
use crate::engine::tensor::Tensor;
use crate::methods::batch::Batch;
use crate::methods::zero_grads;
use crate::models::convnet::ConvNet;

/// Cross-entropy of the logits against `labels`; writes the gradient into `dlogits`.
pub fn classification_loss(logits: &Tensor, labels: &[u8], dlogits: &mut Tensor) -> f32 {
    cross_entropy(
        &logits.data,
        RowLayout::packed(CLASSES),
        labels,
        None,
        1.0,
        Some(&mut dlogits.data),
    )
}

/// How many rows of logits put their largest value on the label.
pub fn count_correct(logits: &Tensor, labels: &[u8]) -> usize {
    logits
        .data
        .chunks_exact(CLASSES)
        .zip(labels)
        .filter(|(z, l)| predicted_class(z) == usize::from(**l))
        .count()
}

/// The index of the largest logit (the first one on ties).
pub fn predicted_class(logits: &[f32]) -> usize {
    (0..logits.len()).fold(0, |best, k| if logits[k] > logits[best] { k } else { best })
}

/// Loss and training accuracy of one classifier update.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ClassifierStep {
    /// Mean cross-entropy of the batch.
    pub loss: f32,
    /// Correctly classified images of the batch (before the update).
    pub correct: usize,
}

/// One baseline iteration at learning rate `lr`.
pub fn baseline_step(net: &mut ConvNet, batch: &Batch, lr: f32, sgd: &SgdConfig) -> ClassifierStep {
    zero_grads(net.params_mut());
    net.forward_features(&batch.x, true);
    let logits = net.forward_classifier();
    let mut dlogits = Tensor::zeros(logits.dims);
    let loss = classification_loss(logits, &batch.labels, &mut dlogits);
    let correct = count_correct(logits, &batch.labels);
    net.backward_classifier(&dlogits);
    net.backward_features();
    sgd_step(net.params_mut(), lr, sgd);
    ClassifierStep { loss, correct }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::sgd::SgdConfig;
    use crate::methods::batch::random_batch;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn correct_rows_are_counted_with_ties_to_the_first_class() {
        let mut logits = Tensor::zeros([3, CLASSES, 1, 1]);
        logits.data[2] = 1.0; // row 0 predicts 2
        logits.data[CLASSES + 7] = -1.0; // row 1: all others tie at 0, so 0 wins
        logits.data[2 * CLASSES + 9] = 5.0; // row 2 predicts 9
        assert_eq!(count_correct(&logits, &[2, 0, 9]), 3);
        assert_eq!(count_correct(&logits, &[2, 1, 3]), 1);
        assert_eq!(predicted_class(&logits.data[CLASSES..2 * CLASSES]), 0);
    }

    /// The second step's gradient is the gradient of that step alone, as a fresh network with
    /// the same weights computes it: nothing of the first step's gradient is carried over.
    #[test]
    fn each_step_starts_from_a_zero_gradient() {
        let batch = random_batch(3, 8);
        let sgd = SgdConfig {
            lr: 0.01,
            momentum: 0.9,
            weight_decay: 5e-4,
            decay_rate: 0.1,
            decay_period: 40,
        };
        let mut net = ConvNet::new(&mut ChaCha8Rng::seed_from_u64(0));
        baseline_step(&mut net, &batch, 0.01, &sgd);

        let mut fresh = ConvNet::new(&mut ChaCha8Rng::seed_from_u64(1));
        for (to, from) in fresh.params_mut().into_iter().zip(net.params_mut()) {
            to.value.clone_from(&from.value);
        }
        for ((_, to), (_, from)) in fresh
            .running_stats_mut()
            .into_iter()
            .zip(net.running_stats_mut())
        {
            to.clone_from(from);
        }
        fresh.forward_features(&batch.x, true);
        let logits = fresh.forward_classifier();
        let mut dlogits = Tensor::zeros(logits.dims);
        classification_loss(logits, &batch.labels, &mut dlogits);
        fresh.backward_classifier(&dlogits);
        fresh.backward_features();

        baseline_step(&mut net, &batch, 0.01, &sgd);
        for (a, b) in net.params_mut().into_iter().zip(fresh.params_mut()) {
            assert_eq!(a.grad, b.grad, "{}", a.name);
        }
    }
}
