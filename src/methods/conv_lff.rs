//! Learning from Failure on LNTL's σ² benchmark (docs/LFF.md, "LfF on LNTL's benchmark"): LfF's
//! iteration (`methods::lff`) with two of the paper's conv nets (docs/SPEC.md §2) trained from
//! scratch, the biased f_B and the debiased f_D, each stepped by SGD as LNTL's benchmark trains
//! (momentum and weight decay from the run's settings, one rate). No color label is read.

use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::engine::tensor::Tensor;
use crate::methods::batch::Batch;
use crate::methods::lff::{LffAverages, LffStep, lff_losses};
use crate::methods::zero_grads;
use crate::models::convnet::ConvNet;

/// One LfF iteration on `batch`, whose images are the training samples `indices`: f_B
/// (`biased`) and f_D (`debiased`) each take an SGD step at rate `lr`.
pub fn conv_lff_step(
    biased: &mut ConvNet,
    debiased: &mut ConvNet,
    averages: &mut LffAverages,
    batch: &Batch,
    indices: &[usize],
    lr: f32,
    sgd: &SgdConfig,
) -> LffStep {
    let forward = |net: &mut ConvNet| {
        zero_grads(net.params_mut());
        net.forward_features(&batch.x, true);
        net.forward_classifier().clone()
    };
    let (logits_b, logits_d) = (forward(biased), forward(debiased));
    let mut dlogits_b = Tensor::zeros(logits_b.dims);
    let mut dlogits_d = Tensor::zeros(logits_d.dims);
    let step = lff_losses(
        averages,
        (&logits_b, &logits_d),
        &batch.labels,
        indices,
        (&mut dlogits_b, &mut dlogits_d),
    );
    for (net, dlogits) in [(biased, &dlogits_b), (debiased, &dlogits_d)] {
        net.backward_classifier(dlogits);
        net.backward_features();
        sgd_step(net.params_mut(), lr, sgd);
    }
    step
}
