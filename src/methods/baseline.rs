//! The baseline iteration: cross-entropy on the digit label, one SGD step on f and g.

use crate::engine::cross_entropy::cross_entropy;
use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::engine::tensor::Tensor;
use crate::methods::batch::Batch;
use crate::methods::zero_grads;
use crate::models::convnet::{CLASSES, ConvNet};

/// Cross-entropy of the logits against `labels`; writes the gradient into `dlogits`.
pub fn classification_loss(logits: &Tensor, labels: &[u8], dlogits: &mut Tensor) -> f32 {
    cross_entropy(
        &logits.data,
        CLASSES,
        0,
        CLASSES,
        labels,
        None,
        1.0,
        Some(&mut dlogits.data),
    )
}

/// One baseline iteration at learning rate `lr`; returns the loss.
pub fn baseline_step(net: &mut ConvNet, batch: &Batch, lr: f32, sgd: &SgdConfig) -> f32 {
    zero_grads(net.params_mut());
    net.forward_features(&batch.x, true);
    let logits = net.forward_classifier();
    let mut dlogits = Tensor::zeros(logits.dims);
    let loss = classification_loss(logits, &batch.labels, &mut dlogits);
    net.zero_feature_grad();
    net.backward_classifier(&dlogits);
    net.backward_features();
    sgd_step(net.params_mut(), lr, sgd);
    loss
}
