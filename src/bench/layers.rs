//! `lntl bench --layers`: each layer of the paper's networks timed alone at batch size N, pass
//! by pass (forward, weight gradient, input gradient), best of several runs. It shows where a
//! step's time goes and how close each convolution comes to the GEMM peak.

use crate::bench::time_runs;
use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::channel_affine::ChannelAffine;
use crate::engine::conv::{Conv2d, ConvSpec, Lowering, MappedConv2d};
use crate::engine::input_stem::InputStem;
use crate::engine::max_pool::MaxPool2d;
use crate::engine::tensor::Tensor;
use crate::models::color_heads::{CONV_A, CONV_B};
use crate::models::convnet::CONV_SPECS;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// The timings of one layer; a pass the layer does not have is `None`.
#[derive(Debug, Clone, Serialize)]
pub struct LayerTiming {
    /// Layer name, as in the networks.
    pub layer: String,
    /// How a convolution is computed (its lowering), empty for other layers.
    pub method: String,
    /// Fastest forward pass, ms.
    pub forward_ms: f64,
    /// Fastest backward pass computing only the parameter gradients, ms.
    pub weight_grad_ms: Option<f64>,
    /// Fastest backward pass computing only the input gradient, ms.
    pub input_grad_ms: Option<f64>,
    /// GFLOP of one pass (convolutions only: 2 per multiply-add of a direct convolution, as
    /// docs/SPEC.md §3 counts them).
    pub gflop: Option<f64>,
}

fn random_tensor(rng: &mut ChaCha8Rng, dims: [usize; 4]) -> Tensor {
    let len = dims.iter().product();
    Tensor::from_vec(
        dims,
        (0..len).map(|_| rng.random_range(-1.0..1.0)).collect(),
    )
}

/// A convolution to time: plain, or reading its input through a batch norm and ReLU's map, as
/// the heads' grouped convolution does.
enum TimedConv {
    Plain(Conv2d),
    Mapped(MappedConv2d, ChannelAffine),
}

impl TimedConv {
    fn forward(&mut self, x: &Tensor, out: &mut Tensor) {
        match self {
            TimedConv::Plain(conv) => conv.forward(x, out),
            TimedConv::Mapped(conv, map) => conv.forward(x, map, out),
        }
    }

    fn backward(&mut self, x: &Tensor, dout: &Tensor, param_grads: bool, dx: Option<&mut Tensor>) {
        match self {
            TimedConv::Plain(conv) => conv.backward(x, dout, param_grads, dx),
            TimedConv::Mapped(conv, map) => conv.backward((x, map), dout, param_grads, dx),
        }
    }

    fn lowering(&self) -> Lowering {
        match self {
            TimedConv::Plain(conv) => conv.lowering(),
            TimedConv::Mapped(..) => Lowering::OutputPatches,
        }
    }
}

/// Times a convolution; one that `reads_through_map` reads its input through a batch norm and
/// ReLU as a per-channel map, as the heads' grouped convolution does.
fn conv_timing(
    name: &str,
    (spec, side, reads_through_map): (ConvSpec, usize, bool),
    batch: usize,
    runs: usize,
    rng: &mut ChaCha8Rng,
) -> LayerTiming {
    let weights = (0..spec.groups * spec.group_weights())
        .map(|_| rng.random_range(-0.1..0.1))
        .collect();
    let x = random_tensor(rng, [batch, side, side, spec.in_channels]);
    let dout = random_tensor(rng, spec.output_dims(x.dims));
    let mut coefficients = || {
        (0..spec.in_channels)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect()
    };
    let bias = vec![0.0; spec.out_channels];
    let mut conv = if reads_through_map {
        let map = ChannelAffine {
            scale: coefficients(),
            shift: coefficients(),
            relu: true,
        };
        TimedConv::Mapped(MappedConv2d::new(name, spec, weights, bias), map)
    } else {
        TimedConv::Plain(Conv2d::new(name, spec, weights, bias))
    };
    let (mut out, mut dx) = (Tensor::empty(), Tensor::empty());
    let (_, forward_ms) = time_runs(runs, || conv.forward(&x, &mut out));
    // A backward pass follows its own forward pass, which is not timed.
    let mut backward_ms = |param_grads: bool, dx: Option<&mut Tensor>| {
        let mut dx = dx;
        let mut best = f64::INFINITY;
        for _ in 0..=runs {
            conv.forward(&x, &mut out);
            let started = std::time::Instant::now();
            conv.backward(&x, &dout, param_grads, dx.as_deref_mut());
            best = best.min(started.elapsed().as_secs_f64() * 1e3);
        }
        best
    };
    let weight_grad_ms = backward_ms(true, None);
    let input_grad_ms = backward_ms(false, Some(&mut dx));
    let positions = spec.out_side(side).pow(2);
    let macs = batch * positions * spec.out_channels * spec.group_cols();
    LayerTiming {
        layer: name.to_string(),
        method: format!("{:?}", conv.lowering()),
        forward_ms,
        weight_grad_ms: Some(weight_grad_ms),
        input_grad_ms: Some(input_grad_ms),
        gflop: Some(2.0 * macs as f64 / 1e9),
    }
}

/// The stem (input batch norm, conv1, max pooling, fused): forward, and backward, which
/// computes the parameter gradients only (the data needs no gradient).
fn stem_timing(batch: usize, runs: usize, rng: &mut ChaCha8Rng) -> LayerTiming {
    let spec = CONV_SPECS[0];
    let weights = (0..spec.group_weights())
        .map(|_| rng.random_range(-0.1..0.1))
        .collect();
    let conv = Conv2d::new("conv1", spec, weights, vec![0.0; spec.out_channels]);
    let mut stem = InputStem::new(BatchNorm2d::new("bn0", 3), conv, MaxPool2d::new(3, 2, 1));
    let x = random_tensor(rng, [batch, 28, 28, 3]);
    let mut out = Tensor::empty();
    let (_, forward_ms) = time_runs(runs, || stem.forward(&x, true, &mut out));
    let dout = random_tensor(rng, out.dims);
    let (_, weight_grad_ms) = time_runs(runs, || stem.backward(&out, &dout));
    let macs = batch * 28 * 28 * spec.out_channels * spec.group_cols();
    LayerTiming {
        layer: "stem".to_string(),
        method: "bn0+conv1+pool+relu".to_string(),
        forward_ms,
        weight_grad_ms: Some(weight_grad_ms),
        input_grad_ms: None,
        gflop: Some(2.0 * macs as f64 / 1e9),
    }
}

/// Times every layer of f, g and the color heads at batch size `batch`.
pub fn layer_timings(batch: usize, runs: usize) -> Vec<LayerTiming> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let convs = [
        ("conv2", (CONV_SPECS[1], 14, false)),
        ("conv3", (CONV_SPECS[2], 14, false)),
        ("conv4", (CONV_SPECS[3], 7, false)),
        ("heads.conv_a", (CONV_A, 14, false)),
        ("heads.conv_b", (CONV_B, 14, true)),
    ];
    let mut timings = vec![stem_timing(batch, runs, &mut rng)];
    timings.extend(
        convs
            .iter()
            .map(|&(name, shape)| conv_timing(name, shape, batch, runs, &mut rng)),
    );
    let x = random_tensor(&mut rng, [batch, 14, 14, CONV_A.out_channels]);
    let mut bn = BatchNorm2d::with_relu("heads.bn", CONV_A.out_channels);
    let mut dx = Tensor::empty();
    // The heads' batch norm forms its statistics; heads.conv_b applies the map they give.
    let (_, forward_ms) = time_runs(runs, || {
        bn.train_map(&x);
    });
    // Batch norm's backward computes both gradients in one pass.
    let (_, backward_ms) = time_runs(runs, || bn.backward(&x, &x, true, Some(&mut dx)));
    timings.push(LayerTiming {
        layer: "heads.bn".to_string(),
        method: "statistics".to_string(),
        forward_ms,
        weight_grad_ms: None,
        input_grad_ms: Some(backward_ms),
        gflop: None,
    });
    timings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layer runs every pass it has at a small batch, in a positive, finite time, and the
    /// convolutions report the multiply-adds of their shapes.
    #[test]
    fn every_layer_is_timed() {
        let timings = layer_timings(2, 1);
        let names: Vec<&str> = timings.iter().map(|t| t.layer.as_str()).collect();
        assert_eq!(
            names,
            [
                "stem",
                "conv2",
                "conv3",
                "conv4",
                "heads.conv_a",
                "heads.conv_b",
                "heads.bn"
            ]
        );
        for t in &timings {
            let passes = [Some(t.forward_ms), t.weight_grad_ms, t.input_grad_ms];
            for ms in passes.into_iter().flatten() {
                assert!(ms.is_finite() && ms > 0.0, "{t:?}");
            }
        }
        // The stem's conv1: 2 images × 28·28 positions × 32 outputs × 5·5·3 taps, 2 FLOP each.
        let conv1 = timings[0]
            .gflop
            .expect("the stem counts conv1's multiply-adds");
        assert!((conv1 - 2.0 * 2.0 * 784.0 * 32.0 * 75.0 / 1e9).abs() < 1e-12);
        assert_eq!(timings[1].method, "Winograd");
    }
}
