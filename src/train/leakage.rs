//! Color leakage: how much color the features φ still carry. A fresh set of color heads is
//! trained on the frozen φ of training images (one pass, batch 128, SGD lr 0.01, momentum 0.9,
//! weight decay 5e-4), then its per-pixel bin accuracy is measured on the test set, whose colors
//! are independent of the digits. Features that kept the color give high accuracy; features
//! that unlearned it give accuracy near what the digit shape alone allows.

use crate::colored::dataset::ColoredSplit;
use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::methods::batch::{Batch, ImageMode};
use crate::methods::head_losses::{heads_accuracy, heads_cross_entropy};
use crate::methods::zero_grads;
use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;
use crate::train::config::paper_sgd;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const PROBE_BATCH: usize = 128;
/// The paper's optimizer at the baseline's rate, without decay (the probe trains one pass).
const PROBE_SGD: SgdConfig = SgdConfig {
    decay_rate: 1.0,
    ..paper_sgd(0.01)
};

/// Per-pixel accuracy of probe heads trained on the first `train_images` of `train`, measured
/// on `test`.
pub fn color_leakage(
    net: &mut ConvNet,
    train: &ColoredSplit,
    test: &ColoredSplit,
    train_images: usize,
    mode: ImageMode,
    seed: u64,
) -> f64 {
    let mut heads = ColorHeads::new(&mut ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9));
    let indices: Vec<usize> = (0..train_images.min(train.len())).collect();
    for chunk in indices.chunks(PROBE_BATCH) {
        let batch = Batch::from_split(train, chunk, mode);
        zero_grads(heads.params_mut());
        net.forward_features(&batch.x, false);
        heads.forward(net.features(), true);
        let (logits, dlogits) = heads.logits_and_grad();
        heads_cross_entropy(logits, &batch.bias, dlogits);
        heads.backward(net.features(), true);
        sgd_step(heads.params_mut(), PROBE_SGD.lr, &PROBE_SGD);
    }
    let (mut correct, mut total) = (0, 0);
    let all: Vec<usize> = (0..test.len()).collect();
    for chunk in all.chunks(PROBE_BATCH) {
        let batch = Batch::from_split(test, chunk, mode);
        net.forward_features(&batch.x, false);
        let logits = heads.forward(net.features(), false);
        let (c, t) = heads_accuracy(logits, &batch.bias);
        correct += c;
        total += t;
    }
    correct as f64 / total.max(1) as f64
}
