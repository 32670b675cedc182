//! The color heads h (the paper's bias predictor): three identical heads on φ, one per RGB
//! channel, each conv3×3 32→32 → BatchNorm(32) → ReLU → conv3×3 32→8, giving per-pixel logits
//! over 8 bins.
//!
//! The three heads run as one network: their first convolutions share the input φ, so they are
//! one 32→96 convolution (head h owns output channels 32h..32h+32); their batch norms act per
//! channel, so they are one BatchNorm(96); their second convolutions are one grouped convolution
//! (3 groups, 96→24; head h's logits are channels 8h..8h+8). This is the same function and the
//! same per-parameter SGD update as three separate heads with three optimizers. The second
//! convolution reads the first one's output through the batch norm and ReLU as a per-channel
//! map, a block of images at a time, so their output is never stored (two passes over a 9.6 MB
//! tensor fewer per forward pass).

use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::channel_affine::ChannelAffine;
use crate::engine::conv::{Conv2d, ConvSpec, MappedConv2d};
use crate::engine::init::pytorch_default_uniform;
use crate::engine::param::Param;
use crate::engine::tensor::Tensor;
use crate::models::convnet::FEATURE_CHANNELS;
use crate::models::pytorch_layout::{conv_weight_from_oihw, conv_weight_to_oihw};
use rand_chacha::ChaCha8Rng;

/// Number of heads (R, G, B).
pub const HEADS: usize = 3;
/// Color bins each head predicts.
pub const BINS: usize = 8;

/// The fused first convolution of the three heads.
pub const CONV_A: ConvSpec = ConvSpec {
    in_channels: FEATURE_CHANNELS,
    out_channels: HEADS * FEATURE_CHANNELS,
    kernel: 3,
    stride: 1,
    padding: 1,
    groups: 1,
};
/// The grouped second convolution of the three heads.
pub const CONV_B: ConvSpec = ConvSpec {
    in_channels: HEADS * FEATURE_CHANNELS,
    out_channels: HEADS * BINS,
    kernel: 3,
    stride: 1,
    padding: 1,
    groups: HEADS,
};

/// The three color heads.
#[derive(Debug, Clone)]
pub struct ColorHeads {
    /// First convolutions of the three heads.
    pub conv_a: Conv2d,
    /// Batch norms of the three heads, each with the ReLU that follows it.
    pub bn: BatchNorm2d,
    /// Second convolutions of the three heads, reading the batch norm's output through its map.
    pub conv_b: MappedConv2d,
    pre_norm: Tensor,
    /// The batch norm and ReLU of the last forward pass as a map, through which `conv_b`
    /// reads `pre_norm`: their output is never stored whole.
    norm_map: Option<ChannelAffine>,
    logits: Tensor,
    /// The loss gradient with respect to `logits`, kept between passes: a fresh 2.4 MB buffer
    /// per pass would be page-faulted and cleared by the kernel each time.
    dlogits: Tensor,
    dhidden: Tensor,
    dpre_norm: Tensor,
    dphi: Tensor,
}

/// One head's parameters in PyTorch's layout (OIHW convolution weights), as the authors'
/// `Predictor` module stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadParams {
    /// `pred_conv1.weight`, 32×32×3×3.
    pub conv1_weight: Vec<f32>,
    /// `pred_conv1.bias`, 32.
    pub conv1_bias: Vec<f32>,
    /// `pred_bn1.weight`, 32.
    pub bn_weight: Vec<f32>,
    /// `pred_bn1.bias`, 32.
    pub bn_bias: Vec<f32>,
    /// `pred_bn1.running_mean`, 32.
    pub bn_running_mean: Vec<f32>,
    /// `pred_bn1.running_var`, 32.
    pub bn_running_var: Vec<f32>,
    /// `pred_conv2.weight`, 8×32×3×3.
    pub conv2_weight: Vec<f32>,
    /// `pred_conv2.bias`, 8.
    pub conv2_bias: Vec<f32>,
}

/// One head's first convolution on its own (32→32).
const HEAD_CONV_A: ConvSpec = ConvSpec {
    out_channels: FEATURE_CHANNELS,
    ..CONV_A
};
/// One head's second convolution on its own (32→8).
const HEAD_CONV_B: ConvSpec = ConvSpec {
    in_channels: FEATURE_CHANNELS,
    out_channels: BINS,
    groups: 1,
    ..CONV_B
};

impl ColorHeads {
    /// Heads with PyTorch's default initialization, drawn from `rng` head after head.
    pub fn new(rng: &mut ChaCha8Rng) -> ColorHeads {
        let mut heads = ColorHeads {
            conv_a: Conv2d::new(
                "heads.conv_a",
                CONV_A,
                vec![0.0; CONV_A.group_weights()],
                vec![0.0; CONV_A.out_channels],
            ),
            bn: BatchNorm2d::with_relu("heads.bn", HEADS * FEATURE_CHANNELS),
            conv_b: MappedConv2d::new(
                "heads.conv_b",
                CONV_B,
                vec![0.0; HEADS * CONV_B.group_weights()],
                vec![0.0; CONV_B.out_channels],
            ),
            pre_norm: Tensor::empty(),
            norm_map: None,
            logits: Tensor::empty(),
            dlogits: Tensor::empty(),
            dhidden: Tensor::empty(),
            dpre_norm: Tensor::empty(),
            dphi: Tensor::empty(),
        };
        let (a_fan, b_fan) = (HEAD_CONV_A.fan_in(), HEAD_CONV_B.fan_in());
        for h in 0..HEADS {
            let params = HeadParams {
                conv1_weight: pytorch_default_uniform(rng, HEAD_CONV_A.group_weights(), a_fan),
                conv1_bias: pytorch_default_uniform(rng, FEATURE_CHANNELS, a_fan),
                bn_weight: vec![1.0; FEATURE_CHANNELS],
                bn_bias: vec![0.0; FEATURE_CHANNELS],
                bn_running_mean: vec![0.0; FEATURE_CHANNELS],
                bn_running_var: vec![1.0; FEATURE_CHANNELS],
                conv2_weight: pytorch_default_uniform(rng, HEAD_CONV_B.group_weights(), b_fan),
                conv2_bias: pytorch_default_uniform(rng, BINS, b_fan),
            };
            heads.set_head(h, &params);
        }
        heads
    }

    /// Replaces head `h`'s parameters and running statistics.
    pub fn set_head(&mut self, h: usize, p: &HeadParams) {
        let wa = conv_weight_from_oihw(&p.conv1_weight, &HEAD_CONV_A);
        let c = FEATURE_CHANNELS;
        for (row, values) in wa.chunks_exact(c).enumerate() {
            self.conv_a.weight.value[row * CONV_A.out_channels + h * c..][..c]
                .copy_from_slice(values);
        }
        self.conv_a.bias.value[h * c..][..c].copy_from_slice(&p.conv1_bias);
        self.bn.gamma.value[h * c..][..c].copy_from_slice(&p.bn_weight);
        self.bn.beta.value[h * c..][..c].copy_from_slice(&p.bn_bias);
        self.bn.running_mean[h * c..][..c].copy_from_slice(&p.bn_running_mean);
        self.bn.running_var[h * c..][..c].copy_from_slice(&p.bn_running_var);
        let wb = conv_weight_from_oihw(&p.conv2_weight, &HEAD_CONV_B);
        self.conv_b.weight.value[h * CONV_B.group_weights()..][..wb.len()].copy_from_slice(&wb);
        self.conv_b.bias.value[h * BINS..][..BINS].copy_from_slice(&p.conv2_bias);
    }

    /// Head `h`'s parameters and running statistics in PyTorch's layout.
    pub fn head(&self, h: usize) -> HeadParams {
        let c = FEATURE_CHANNELS;
        let wa: Vec<f32> = self
            .conv_a
            .weight
            .value
            .chunks_exact(CONV_A.out_channels)
            .flat_map(|row| row[h * c..][..c].to_vec())
            .collect();
        let wb = &self.conv_b.weight.value[h * CONV_B.group_weights()..][..CONV_B.group_weights()];
        HeadParams {
            conv1_weight: conv_weight_to_oihw(&wa, &HEAD_CONV_A),
            conv1_bias: self.conv_a.bias.value[h * c..][..c].to_vec(),
            bn_weight: self.bn.gamma.value[h * c..][..c].to_vec(),
            bn_bias: self.bn.beta.value[h * c..][..c].to_vec(),
            bn_running_mean: self.bn.running_mean[h * c..][..c].to_vec(),
            bn_running_var: self.bn.running_var[h * c..][..c].to_vec(),
            conv2_weight: conv_weight_to_oihw(wb, &HEAD_CONV_B),
            conv2_bias: self.conv_b.bias.value[h * BINS..][..BINS].to_vec(),
        }
    }

    /// φ (N×14×14×32) → logits (N×14×14×24, head h at channels 8h..8h+8). `train` selects
    /// batch statistics in the batch norms (and updates the running ones).
    pub fn forward(&mut self, phi: &Tensor, train: bool) -> &Tensor {
        self.conv_a.forward(phi, &mut self.pre_norm);
        let map = if train {
            self.bn.train_map(&self.pre_norm)
        } else {
            self.bn.eval_map()
        };
        let map = self.norm_map.insert(map);
        self.conv_b.forward(&self.pre_norm, map, &mut self.logits);
        &self.logits
    }

    /// The logits of the last forward pass, and the buffer for the loss gradient with respect
    /// to them, cleared to zeros, for the losses to add to; [`ColorHeads::backward`] reads it.
    pub fn logits_and_grad(&mut self) -> (&Tensor, &mut Tensor) {
        self.dlogits.resize(self.logits.dims);
        self.dlogits.zero();
        (&self.logits, &mut self.dlogits)
    }

    /// Backward from the logits' gradient in [`ColorHeads::logits_and_grad`], given the φ of the
    /// last forward pass; adds the heads' parameter gradients when `param_grads`; returns dφ.
    pub fn backward(&mut self, phi: &Tensor, param_grads: bool) -> &Tensor {
        assert_eq!(
            self.dlogits.dims, self.logits.dims,
            "the logits' gradient set through logits_and_grad"
        );
        let map = self
            .norm_map
            .as_ref()
            .expect("a forward pass before the backward pass");
        self.conv_b.backward(
            (&self.pre_norm, map),
            &self.dlogits,
            param_grads,
            Some(&mut self.dhidden),
        );
        self.bn.backward(
            &self.pre_norm,
            &self.dhidden,
            param_grads,
            Some(&mut self.dpre_norm),
        );
        self.conv_a
            .backward(phi, &self.dpre_norm, param_grads, Some(&mut self.dphi));
        &self.dphi
    }

    /// The batch norms' running statistics, with their names.
    pub fn running_stats_mut(&mut self) -> Vec<(&'static str, &mut Vec<f32>)> {
        vec![
            ("heads.bn.running_mean", &mut self.bn.running_mean),
            ("heads.bn.running_var", &mut self.bn.running_var),
        ]
    }

    /// Every trainable parameter, in a fixed order.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        vec![
            &mut self.conv_a.weight,
            &mut self.conv_a.bias,
            &mut self.bn.gamma,
            &mut self.bn.beta,
            &mut self.conv_b.weight,
            &mut self.conv_b.bias,
        ]
    }
}
