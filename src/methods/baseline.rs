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
