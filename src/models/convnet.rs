//! The feature extractor f and classifier g of the paper (the authors' `convnet`):
//! BN(3) → conv5×5 3→32 → ReLU → maxpool 3/2/1 → conv3×3 32→32 → ReLU (= φ, 32×14×14)
//! → conv3×3/2 32→64 → ReLU → conv3×3 64→64 → ReLU → global average pool → linear 64→10.

use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::conv2d::{Conv2d, ConvSpec};
use crate::engine::global_avg_pool::{global_avg_pool_backward, global_avg_pool_forward};
use crate::engine::init::{conv_normal, pytorch_default_uniform};
use crate::engine::linear::Linear;
use crate::engine::max_pool::MaxPool2d;
use crate::engine::param::Param;
use crate::engine::relu::{relu_backward, relu_forward};
use crate::engine::tensor::Tensor;
use rand_chacha::ChaCha8Rng;

/// Channels of the feature map φ.
pub const FEATURE_CHANNELS: usize = 32;
/// Digit classes.
pub const CLASSES: usize = 10;

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

/// f and g, with the activations of the last forward pass.
#[derive(Debug, Clone)]
pub struct ConvNet {
    /// Input batch norm.
    pub bn0: BatchNorm2d,
    /// 5×5 convolution.
    pub conv1: Conv2d,
    /// 3×3/2 max pooling.
    pub pool: MaxPool2d,
    /// 3×3 convolution producing φ.
    pub conv2: Conv2d,
    /// 3×3/2 convolution.
    pub conv3: Conv2d,
    /// 3×3 convolution.
    pub conv4: Conv2d,
    /// Classifier.
    pub fc: Linear,
    relu1: Tensor,
    phi: Tensor,
    relu3: Tensor,
    relu4: Tensor,
}

impl ConvNet {
    /// A network initialized as SPEC.md §2 says, from `rng`.
    pub fn new(rng: &mut ChaCha8Rng) -> ConvNet {
        let names = ["conv1", "conv2", "conv3", "conv4"];
        let mut convs = CONV_SPECS.iter().zip(names).map(|(s, name)| {
            let w = conv_normal(rng, s.group_weights(), s.kernel, s.out_channels);
            let b = pytorch_default_uniform(rng, s.out_channels, s.fan_in());
            Conv2d::new(name, *s, w, b)
        });
        let (conv1, conv2, conv3, conv4) = (
            convs.next().expect("4 convs"),
            convs.next().expect("4 convs"),
            convs.next().expect("4 convs"),
            convs.next().expect("4 convs"),
        );
        let fc_w = pytorch_default_uniform(rng, CLASSES * 64, 64);
        let fc_b = pytorch_default_uniform(rng, CLASSES, 64);
        ConvNet {
            bn0: BatchNorm2d::new("bn0", 3),
            conv1,
            pool: MaxPool2d::new(3, 2, 1),
            conv2,
            conv3,
            conv4,
            fc: Linear::new("fc", 64, CLASSES, fc_w, fc_b),
            relu1: Tensor::zeros([0; 4]),
            phi: Tensor::zeros([0; 4]),
            relu3: Tensor::zeros([0; 4]),
            relu4: Tensor::zeros([0; 4]),
        }
    }

    /// f: input (N×28×28×3, normalized) → φ (N×14×14×32). `train` selects batch statistics
    /// (and updates the running ones) in the input batch norm.
    pub fn forward_features(&mut self, x: &Tensor, train: bool) -> &Tensor {
        let x = if train {
            self.bn0.forward_train(x)
        } else {
            self.bn0.forward_eval(x)
        };
        let mut a = self.conv1.forward(&x);
        relu_forward(&mut a);
        let p = self.pool.forward(&a);
        self.relu1 = a;
        let mut phi = self.conv2.forward(&p);
        relu_forward(&mut phi);
        self.phi = phi;
        &self.phi
    }

    /// The φ of the last forward pass.
    pub fn features(&self) -> &Tensor {
        &self.phi
    }

    /// g: φ of the last forward → logits (N×1×1×10).
    pub fn forward_classifier(&mut self) -> Tensor {
        let mut a = self.conv3.forward(&self.phi);
        relu_forward(&mut a);
        let mut b = self.conv4.forward(&a);
        self.relu3 = a;
        relu_forward(&mut b);
        let pooled = global_avg_pool_forward(&b);
        self.relu4 = b;
        self.fc.forward(&pooled)
    }

    /// Backward through g: adds its parameter gradients; returns dφ.
    pub fn backward_classifier(&mut self, dlogits: &Tensor) -> Tensor {
        let dpooled = self.fc.backward(dlogits, [dlogits.batch(), 1, 1, 64]);
        let mut d4 = global_avg_pool_backward(&dpooled, self.relu4.dims);
        relu_backward(&self.relu4, &mut d4);
        let mut d3 = self.conv4.backward(&d4, true, true).expect("input grad");
        relu_backward(&self.relu3, &mut d3);
        self.conv3.backward(&d3, true, true).expect("input grad")
    }

    /// Backward through f from dφ (the gradient w.r.t. φ = ReLU output): adds f's gradients.
    pub fn backward_features(&mut self, mut dphi: Tensor) {
        relu_backward(&self.phi, &mut dphi);
        let dp = self.conv2.backward(&dphi, true, true).expect("input grad");
        let mut da = self.pool.backward(&dp);
        relu_backward(&self.relu1, &mut da);
        let dx = self.conv1.backward(&da, true, true).expect("input grad");
        self.bn0.backward(&dx, true, false);
    }

    /// Every trainable parameter, in a fixed order.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![
            &mut self.bn0.gamma,
            &mut self.bn0.beta,
            &mut self.conv1.weight,
            &mut self.conv1.bias,
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

    /// The convolutions with their PyTorch names, for layout conversions.
    pub fn convs_mut(&mut self) -> [(&'static str, &mut Conv2d); 4] {
        [
            ("conv1", &mut self.conv1),
            ("conv2", &mut self.conv2),
            ("conv3", &mut self.conv3),
            ("conv4", &mut self.conv4),
        ]
    }
}
