//! The feature extractor f and classifier g of the paper (the authors' `convnet`):
//! BN(3) → conv5×5 3→32 → ReLU → maxpool 3/2/1 → conv3×3 32→32 → ReLU (= φ, 14×14×32)
//! → conv3×3/2 32→64 → ReLU → conv3×3 64→64 → ReLU → global average pool → linear 64→10.

use crate::data::mnist::CLASSES;
use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::conv::{Conv2d, ConvSpec};
use crate::engine::global_avg_pool::{global_avg_pool_backward, global_avg_pool_forward};
use crate::engine::init::{conv_normal, pytorch_default_uniform};
use crate::engine::input_stem::InputStem;
use crate::engine::linear::Linear;
use crate::engine::max_pool::MaxPool2d;
use crate::engine::param::Param;
use crate::engine::relu::{relu_backward, relu_forward};
use crate::engine::tensor::{Tensor, add_scaled};
use rand_chacha::ChaCha8Rng;

/// Channels of the feature map φ.
pub const FEATURE_CHANNELS: usize = 32;

/// The four convolutions of f and g.
pub const CONV_SPECS: [ConvSpec; 4] = [
    ConvSpec {
        in_channels: 3,
        out_channels: 32,
        kernel: 5,
        stride: 1,
        padding: 2,
        groups: 1,
    },
    ConvSpec {
        in_channels: 32,
        out_channels: 32,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 1,
    },
    ConvSpec {
        in_channels: 32,
        out_channels: 64,
        kernel: 3,
        stride: 2,
        padding: 1,
        groups: 1,
    },
    ConvSpec {
        in_channels: 64,
        out_channels: 64,
        kernel: 3,
        stride: 1,
        padding: 1,
        groups: 1,
    },
];

/// f and g, with the activations of the last forward pass and reusable gradient buffers.
#[derive(Debug, Clone)]
pub struct ConvNet {
    /// Input batch norm, 5×5 convolution and 3×3/2 max pooling (`bn0`, `conv1`), fused.
    pub stem: InputStem,
    /// 3×3 convolution producing φ.
    pub conv2: Conv2d,
    /// 3×3/2 convolution.
    pub conv3: Conv2d,
    /// 3×3 convolution.
    pub conv4: Conv2d,
    /// Classifier.
    pub fc: Linear,
    pooled1: Tensor,
    phi: Tensor,
    relu3: Tensor,
    relu4: Tensor,
    pooled4: Tensor,
    logits: Tensor,
    /// Gradients of the backward pass, each with respect to the tensor it is named after (then,
    /// in place, through the ReLU that made it).
    dphi: Tensor,
    drelu4: Tensor,
    drelu3: Tensor,
    dpooled1: Tensor,
}

impl ConvNet {
    /// A network initialized as docs/SPEC.md §2 says, from `rng`.
    pub fn new(rng: &mut ChaCha8Rng) -> ConvNet {
        let names = ["conv1", "conv2", "conv3", "conv4"];
        let mut convs = CONV_SPECS.iter().zip(names).map(|(s, name)| {
            let w = conv_normal(rng, s.group_weights(), s.kernel, s.out_channels);
            let b = pytorch_default_uniform(rng, s.out_channels, s.fan_in());
            Conv2d::new(name, *s, w, b)
        });
        let mut next = || convs.next().expect("four convolutions");
        let (conv1, conv2, conv3, conv4) = (next(), next(), next(), next());
        let fc_w = pytorch_default_uniform(rng, CLASSES * 64, 64);
        let fc_b = pytorch_default_uniform(rng, CLASSES, 64);
        ConvNet {
            stem: InputStem::new(BatchNorm2d::new("bn0", 3), conv1, MaxPool2d::new(3, 2, 1)),
            conv2,
            conv3,
            conv4,
            fc: Linear::new("fc", 64, CLASSES, fc_w, fc_b),
            pooled1: Tensor::empty(),
            phi: Tensor::empty(),
            relu3: Tensor::empty(),
            relu4: Tensor::empty(),
            pooled4: Tensor::empty(),
            logits: Tensor::empty(),
            dphi: Tensor::empty(),
            drelu4: Tensor::empty(),
            drelu3: Tensor::empty(),
            dpooled1: Tensor::empty(),
        }
    }

    /// f: input (N×28×28×3, normalized) → φ (N×14×14×32). `train` selects batch statistics
    /// (and updates the running ones) in the input batch norm.
    pub fn forward_features(&mut self, x: &Tensor, train: bool) -> &Tensor {
        self.stem.forward(x, train, &mut self.pooled1);
        self.conv2.forward(&self.pooled1, &mut self.phi);
        relu_forward(&mut self.phi);
        &self.phi
    }

    /// The φ of the last forward pass.
    pub fn features(&self) -> &Tensor {
        &self.phi
    }

    /// g: φ of the last forward → logits (N×1×1×10).
    pub fn forward_classifier(&mut self) -> &Tensor {
        self.conv3.forward(&self.phi, &mut self.relu3);
        relu_forward(&mut self.relu3);
        self.conv4.forward(&self.relu3, &mut self.relu4);
        relu_forward(&mut self.relu4);
        global_avg_pool_forward(&self.relu4, &mut self.pooled4);
        self.logits = self.fc.forward(&self.pooled4);
        &self.logits
    }

    /// Starts a backward pass that skips g (which sets dφ itself): dφ, the gradient with respect
    /// to φ, becomes zero, sized like φ.
    pub fn zero_feature_grad(&mut self) {
        self.dphi.resize(self.phi.dims);
        self.dphi.zero();
    }

    /// dφ, to which the heads' losses add their gradients.
    pub fn feature_grad_mut(&mut self) -> &mut Tensor {
        &mut self.dphi
    }

    /// Adds `dphi` (a gradient with respect to φ from another loss) to dφ.
    pub fn add_feature_grad(&mut self, dphi: &Tensor) {
        add_scaled(&mut self.dphi, dphi, 1.0);
    }

    /// Backward through g from the logits' gradient: adds g's parameter gradients and sets dφ
    /// to g's contribution (written in place by conv3's input gradient, with no pass to clear
    /// or add); other losses on φ add theirs afterwards.
    pub fn backward_classifier(&mut self, dlogits: &Tensor) {
        let dpooled = self.fc.backward(dlogits, [dlogits.batch(), 1, 1, 64]);
        global_avg_pool_backward(&dpooled, self.relu4.dims, &mut self.drelu4);
        relu_backward(&self.relu4, &mut self.drelu4);
        self.conv4
            .backward(&self.relu3, &self.drelu4, true, Some(&mut self.drelu3));
        relu_backward(&self.relu3, &mut self.drelu3);
        self.conv3
            .backward(&self.phi, &self.drelu3, true, Some(&mut self.dphi));
    }

    /// Backward through f from the accumulated dφ: adds f's parameter gradients.
    pub fn backward_features(&mut self) {
        relu_backward(&self.phi, &mut self.dphi);
        self.conv2
            .backward(&self.pooled1, &self.dphi, true, Some(&mut self.dpooled1));
        self.stem.backward(&self.pooled1, &self.dpooled1);
    }

    /// Every trainable parameter, in a fixed order: f's (input batch norm, conv1, conv2), then
    /// g's (conv3, conv4, fc).
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        let [gamma, beta, weight, bias] = self.stem.params_mut();
        vec![
            gamma,
            beta,
            weight,
            bias,
            &mut self.conv2.weight,
            &mut self.conv2.bias,
            &mut self.conv3.weight,
            &mut self.conv3.bias,
            &mut self.conv4.weight,
            &mut self.conv4.bias,
            &mut self.fc.weight,
            &mut self.fc.bias,
        ]
    }

    /// g's parameters: the layers after φ (conv3, conv4, fc).
    pub fn classifier_params_mut(&mut self) -> Vec<&mut Param> {
        let mut all = self.params_mut();
        all.split_off(6)
    }

    /// The batch norm's running statistics, with their names.
    pub fn running_stats_mut(&mut self) -> Vec<(&'static str, &mut Vec<f32>)> {
        vec![
            ("bn0.running_mean", &mut self.stem.bn.running_mean),
            ("bn0.running_var", &mut self.stem.bn.running_var),
        ]
    }

    /// The convolutions with their PyTorch names, for layout conversions.
    pub fn convs_mut(&mut self) -> [(&'static str, &mut Conv2d); 4] {
        [
            ("conv1", &mut self.stem.conv),
            ("conv2", &mut self.conv2),
            ("conv3", &mut self.conv3),
            ("conv4", &mut self.conv4),
        ]
    }
}
