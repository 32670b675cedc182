//! LfF's vanilla baseline on its Colored-MNIST (docs/LFF.md §2): the mean cross-entropy on the
//! digit label, one Adam step on the MLP.

use crate::engine::adam::Adam;
use crate::engine::tensor::Tensor;
use crate::methods::baseline::{ClassifierStep, classification_loss, count_correct};
use crate::methods::zero_grads;
use crate::models::mlp::Mlp;

/// One vanilla iteration on the images `x` (from `mlp_input`) with digit labels `labels`.
pub fn vanilla_step(net: &mut Mlp, adam: &mut Adam, x: &Tensor, labels: &[u8]) -> ClassifierStep {
    zero_grads(net.params_mut());
    let logits = net.forward(x).clone();
    let mut dlogits = Tensor::zeros(logits.dims);
    let loss = classification_loss(&logits, labels, &mut dlogits);
    let correct = count_correct(&logits, labels);
    net.backward(&dlogits);
    adam.step(net.params_mut());
    ClassifierStep { loss, correct }
}
