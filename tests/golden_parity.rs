//! Golden parity with PyTorch: `tools/make_golden_fixtures.py` recorded (computing in float64),
//! for a fixed batch and fixed weights, the forward outputs in training and in evaluation mode,
//! a baseline step's gradients and parameters, and the parameters after one LNTL iteration, two
//! LNTL iterations and one BlindEye iteration (`golden.safetensors`), and both networks after two
//! LfF iterations (`golden_lff.safetensors`). The engine must reproduce them. The fixed weights
//! are not stored: [`initial_models`] computes them from the script's formula.
//!
//! Tolerance: the largest absolute difference, relative to the largest magnitude of the
//! reference tensor, must stay below `TOL` (1e-4). Measured (`-- --nocapture` prints them):
//! a median of 1.6e-6, the largest 7.5e-5 on the update of the heads' first-convolution bias,
//! whose gradient is zero in exact arithmetic (a batch norm follows), so f32 rounding is all
//! there is.
//! For parameters after a step, the *update* (after − before) is compared, so the check is not
//! diluted by the unchanged part.

use lntl::colored::bias_labels::BIAS_POSITIONS;
use lntl::engine::tensor::Tensor;
use lntl::methods::LearningRates;
use lntl::methods::baseline::baseline_step;
use lntl::methods::batch::Batch;
use lntl::methods::blindeye::blindeye_step;
use lntl::methods::conv_lff::{ConvLffOptimizers, conv_lff_step};
use lntl::methods::lff::LffAverages;
use lntl::methods::lntl::{AdversarialLosses, LntlConfig, lntl_step};
use lntl::models::color_heads::{ColorHeads, HEADS, HeadParams};
use lntl::models::convnet::ConvNet;
use lntl::models::pytorch_layout::{conv_weight_from_oihw, conv_weight_to_oihw, nchw_to_nhwc};
use lntl::train::config::paper_sgd;
use lntl::util::tensor_file::TensorFile;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

const TOL: f32 = 1e-4;
/// The fixtures' learning rate (large, so that updates stand above f32 rounding).
const LR: f32 = 0.1;
const HEAD_NAMES: [&str; 3] = ["r", "g", "b"];

struct Golden(TensorFile);

impl Golden {
    /// Reads `tests/fixtures/<file>`.
    fn load(file: &str) -> Golden {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file);
        Golden(TensorFile::read(&path, "lntl-golden", 1).expect("golden fixture"))
    }

    /// The fixture of everything but LfF.
    fn main() -> Golden {
        Golden::load("golden.safetensors")
    }

    fn f32(&self, name: &str) -> Vec<f32> {
        let t = self
            .0
            .tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture lacks {name}"));
        t.bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect()
    }

    fn u8(&self, name: &str) -> Vec<u8> {
        self.0.tensors[name].bytes.clone()
    }

    fn dims(&self, name: &str) -> Vec<usize> {
        self.0.tensors[name].shape.clone()
    }

    /// A tensor the fixture stores NCHW, as NHWC.
    fn nhwc(&self, name: &str) -> Vec<f32> {
        let d = self.dims(name);
        nchw_to_nhwc(&self.f32(name), [d[0], d[1], d[2], d[3]])
    }

    fn batch(&self) -> Batch {
        let dims = self.dims("input.x");
        let x = self.nhwc("input.x");
        // PyTorch stores bias labels [n][channel][14][14], the layout the engine uses too.
        let bias = self.u8("input.bias");
        assert_eq!(bias.len(), dims[0] * 3 * BIAS_POSITIONS);
        Batch {
            x: Tensor::from_vec([dims[0], dims[2], dims[3], dims[1]], x),
            labels: self.u8("input.labels"),
            bias,
        }
    }
}

/// The fixtures' initial weights: the t-th parameter of a module, in PyTorch's
/// `named_parameters()` order and layout, holds 0.1·sin(0.37·k + t + offset) at flat index k,
/// rounded to f32.
fn sines(t: usize, offset: f64, len: usize) -> Vec<f32> {
    (0..len)
        .map(|k| (0.1 * (0.37 * k as f64 + t as f64 + offset).sin()) as f32)
        .collect()
}

/// The offset of f and g in [`sines`]; the heads' are 10, 20 and 30 above it. The script says
/// why 61.
const OFFSET: f64 = 61.0;

/// f and g and the red, green and blue heads at the fixtures' initial weights, running
/// statistics at 0 and 1. PyTorch's order: bn0, conv1…conv4, fc; in a head conv1, bn, conv2.
fn initial_models() -> (ConvNet, ColorHeads) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut net = ConvNet::new(&mut rng);
    let mut heads = ColorHeads::new(&mut rng);
    let bn = &mut net.stem.bn;
    bn.gamma.value = sines(0, OFFSET, bn.gamma.value.len());
    bn.beta.value = sines(1, OFFSET, bn.beta.value.len());
    for (i, (_, conv)) in net.convs_mut().into_iter().enumerate() {
        let oihw = sines(2 + 2 * i, OFFSET, conv.weight.value.len());
        conv.weight.value = conv_weight_from_oihw(&oihw, &conv.spec);
        conv.bias.value = sines(3 + 2 * i, OFFSET, conv.bias.value.len());
    }
    net.fc.weight.value = sines(10, OFFSET, net.fc.weight.value.len());
    net.fc.bias.value = sines(11, OFFSET, net.fc.bias.value.len());
    for h in 0..HEADS {
        let offset = OFFSET + 10.0 * (h + 1) as f64;
        let p = heads.head(h);
        let params = HeadParams {
            conv1_weight: sines(0, offset, p.conv1_weight.len()),
            conv1_bias: sines(1, offset, p.conv1_bias.len()),
            bn_weight: sines(2, offset, p.bn_weight.len()),
            bn_bias: sines(3, offset, p.bn_bias.len()),
            conv2_weight: sines(4, offset, p.conv2_weight.len()),
            conv2_bias: sines(5, offset, p.conv2_bias.len()),
            ..p
        };
        heads.set_head(h, &params);
    }
    (net, heads)
}

/// max|ours − reference| / max(max|reference|, SCALE_FLOOR).
///
/// The floor matters for one kind of tensor only: the bias of a convolution followed by a batch
/// norm (the heads' first convolution) has an exactly zero gradient, so its update is weight
/// decay alone (~3e-6) and f32 rounding noise in the gradient is all that differs.
fn relative_error(ours: &[f32], reference: &[f32]) -> f32 {
    const SCALE_FLOOR: f32 = 1e-4;
    assert_eq!(ours.len(), reference.len(), "lengths differ");
    let scale = reference
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(SCALE_FLOOR);
    let diff = ours
        .iter()
        .zip(reference)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
    diff / scale
}

fn assert_close(what: &str, ours: &[f32], reference: &[f32], tol: f32) {
    let err = relative_error(ours, reference);
    // Shown with `cargo test -- --nocapture`: the measured errors the README quotes.
    eprintln!("{what}: relative error {err:.1e}");
    assert!(err <= tol, "{what}: relative error {err:.2e} > {tol:.0e}");
}

/// The network's parameters and running stats in PyTorch's naming and layout.
fn net_state(net: &mut ConvNet) -> Vec<(String, Vec<f32>)> {
    let mut out = Vec::new();
    for (name, conv) in net.convs_mut() {
        out.push((
            format!("{name}.weight"),
            conv_weight_to_oihw(&conv.weight.value, &conv.spec),
        ));
        out.push((format!("{name}.bias"), conv.bias.value.clone()));
    }
    out.push(("bn0.weight".into(), net.stem.bn.gamma.value.clone()));
    out.push(("bn0.bias".into(), net.stem.bn.beta.value.clone()));
    out.push(("bn0.running_mean".into(), net.stem.bn.running_mean.clone()));
    out.push(("bn0.running_var".into(), net.stem.bn.running_var.clone()));
    out.push(("fc.weight".into(), net.fc.weight.value.clone()));
    out.push(("fc.bias".into(), net.fc.bias.value.clone()));
    out
}

fn head_state(heads: &ColorHeads, h: usize) -> Vec<(String, Vec<f32>)> {
    let p = heads.head(h);
    vec![
        ("conv1.weight".into(), p.conv1_weight),
        ("conv1.bias".into(), p.conv1_bias),
        ("bn.weight".into(), p.bn_weight),
        ("bn.bias".into(), p.bn_bias),
        ("bn.running_mean".into(), p.bn_running_mean),
        ("bn.running_var".into(), p.bn_running_var),
        ("conv2.weight".into(), p.conv2_weight),
        ("conv2.bias".into(), p.conv2_bias),
    ]
}

/// Compares the change of every tensor from `initial` (the same tensors, in the same order, at
/// the initial weights) to `<stage>.<group>`.
fn assert_updates_match(
    g: &Golden,
    stage: &str,
    group: &str,
    initial: Vec<(String, Vec<f32>)>,
    state: Vec<(String, Vec<f32>)>,
) {
    assert_eq!(initial.len(), state.len());
    for ((name, after), (initial_name, init)) in state.into_iter().zip(initial) {
        assert_eq!(name, initial_name);
        let reference = g.f32(&format!("{stage}.{group}.{name}"));
        let ours: Vec<f32> = after.iter().zip(&init).map(|(a, b)| a - b).collect();
        let want: Vec<f32> = reference.iter().zip(&init).map(|(a, b)| a - b).collect();
        if want.iter().all(|v| *v == 0.0) {
            assert!(
                ours.iter().all(|v| *v == 0.0),
                "{stage}.{group}.{name} must not change"
            );
        } else {
            assert_close(
                &format!("{stage}.{group}.{name} (update)"),
                &ours,
                &want,
                TOL,
            );
        }
    }
}

/// Runs f, g and the heads forward on the fixture's batch (`train`: with batch statistics, else
/// with the running ones) and compares φ, the digit logits and the fused heads' logits
/// (`[n][y][x][head·8 + bin]`) with `{stage}.phi`, `{stage}.logits` and `{stage}.heads.{r,g,b}`.
fn assert_forward_matches(
    g: &Golden,
    stage: &str,
    (net, heads): (&mut ConvNet, &mut ColorHeads),
    train: bool,
) {
    let phi = net.forward_features(&g.batch().x, train).clone();
    let logits = net.forward_classifier();
    assert_close(
        &format!("{stage} phi"),
        &phi.data,
        &g.nhwc(&format!("{stage}.phi")),
        TOL,
    );
    assert_close(
        &format!("{stage} logits"),
        &logits.data,
        &g.f32(&format!("{stage}.logits")),
        TOL,
    );
    let head_logits = heads.forward(&phi, train);
    for (h, name) in HEAD_NAMES.iter().enumerate() {
        let ours: Vec<f32> = head_logits
            .data
            .chunks_exact(24)
            .flat_map(|px| px[h * 8..h * 8 + 8].to_vec())
            .collect();
        let reference = g.nhwc(&format!("{stage}.heads.{name}"));
        assert_close(
            &format!("{stage} head {name} logits"),
            &ours,
            &reference,
            TOL,
        );
    }
}

#[test]
fn forward_outputs_match_pytorch() {
    let g = Golden::main();
    let (mut net, mut heads) = initial_models();
    assert_forward_matches(&g, "forward", (&mut net, &mut heads), true);
}

/// Evaluation mode: every batch norm normalizes with its running statistics, which the fixture
/// sets far from their initial values (the input stem folds bn0 into conv1, so this is the
/// only check of that fold with running statistics).
#[test]
fn evaluation_mode_forward_matches_pytorch() {
    let g = Golden::main();
    let (mut net, mut heads) = initial_models();
    net.stem.bn.running_mean = g.f32("eval.net.bn0.running_mean");
    net.stem.bn.running_var = g.f32("eval.net.bn0.running_var");
    for (h, name) in HEAD_NAMES.iter().enumerate() {
        let mut params = heads.head(h);
        params.bn_running_mean = g.f32(&format!("eval.heads.{name}.bn.running_mean"));
        params.bn_running_var = g.f32(&format!("eval.heads.{name}.bn.running_var"));
        heads.set_head(h, &params);
    }
    assert_forward_matches(&g, "eval", (&mut net, &mut heads), false);
    assert_eq!(
        net.stem.bn.running_mean,
        g.f32("eval.net.bn0.running_mean"),
        "evaluation leaves the running statistics alone"
    );
}

#[test]
fn baseline_gradients_and_step_match_pytorch() {
    let g = Golden::main();
    let (mut net, _) = initial_models();
    let batch = g.batch();
    let loss = baseline_step(&mut net, &batch, LR, &paper_sgd(LR)).loss;
    assert_close("baseline loss", &[loss], &g.f32("baseline.loss"), TOL);
    for (name, conv) in net.convs_mut() {
        let grad = conv_weight_to_oihw(&conv.weight.grad, &conv.spec);
        assert_close(
            &format!("grad {name}.weight"),
            &grad,
            &g.f32(&format!("baseline.grad.{name}.weight")),
            TOL,
        );
        assert_close(
            &format!("grad {name}.bias"),
            &conv.bias.grad,
            &g.f32(&format!("baseline.grad.{name}.bias")),
            TOL,
        );
    }
    assert_close(
        "grad bn0.weight",
        &net.stem.bn.gamma.grad,
        &g.f32("baseline.grad.bn0.weight"),
        TOL,
    );
    assert_close(
        "grad bn0.bias",
        &net.stem.bn.beta.grad,
        &g.f32("baseline.grad.bn0.bias"),
        TOL,
    );
    assert_close(
        "grad fc.weight",
        &net.fc.weight.grad,
        &g.f32("baseline.grad.fc.weight"),
        TOL,
    );
    assert_close(
        "grad fc.bias",
        &net.fc.bias.grad,
        &g.f32("baseline.grad.fc.bias"),
        TOL,
    );
    let initial = net_state(&mut initial_models().0);
    assert_updates_match(&g, "baseline.after", "net", initial, net_state(&mut net));
}

/// Checks an adversarial iteration's losses and every updated tensor against `stage`.
fn assert_iteration_matches(
    g: &Golden,
    stage: &str,
    losses: &AdversarialLosses,
    lambda: f32,
    net: &mut ConvNet,
    heads: &ColorHeads,
) {
    let loss1 = losses.classifier.loss + lambda * losses.regularizer;
    assert_close(
        &format!("{stage} loss 1"),
        &[loss1],
        &g.f32(&format!("{stage}.loss1")),
        TOL,
    );
    assert_close(
        &format!("{stage} loss 2"),
        &[losses.color.loss],
        &g.f32(&format!("{stage}.loss2")),
        TOL,
    );
    let after = format!("{stage}.after");
    let (mut initial_net, initial_heads) = initial_models();
    let initial = net_state(&mut initial_net);
    assert_updates_match(g, &after, "net", initial, net_state(net));
    for h in 0..HEADS {
        assert_updates_match(
            g,
            &after,
            &format!("heads.{}", HEAD_NAMES[h]),
            head_state(&initial_heads, h),
            head_state(heads, h),
        );
    }
}

/// The fixtures' LNTL: the paper's λ and reversal scale, g not stepped in phase 2.
const FIXTURE_LNTL: LntlConfig = LntlConfig {
    lambda: 0.01,
    grl_scale: 0.1,
    legacy_zero_grad: false,
};

/// `iterations` LNTL iterations of `config` on the fixture's batch from the initial weights;
/// the models after them and the last iteration's losses.
fn lntl_iterations(
    g: &Golden,
    iterations: usize,
    config: &LntlConfig,
) -> (ConvNet, ColorHeads, AdversarialLosses) {
    let (mut net, mut heads) = initial_models();
    let batch = g.batch();
    let mut step = || {
        let lr = LearningRates::same(LR);
        lntl_step(&mut net, &mut heads, &batch, lr, &paper_sgd(LR), config)
    };
    let mut losses = step();
    for _ in 1..iterations {
        losses = step();
    }
    (net, heads, losses)
}

#[test]
fn lntl_iteration_matches_pytorch() {
    let g = Golden::main();
    let (mut net, heads, losses) = lntl_iterations(&g, 1, &FIXTURE_LNTL);
    assert_iteration_matches(&g, "lntl", &losses, FIXTURE_LNTL.lambda, &mut net, &heads);
}

/// Two LNTL iterations on the same batch: the second starts from the first's momentum buffers
/// (f, g and the heads') and running statistics, so a buffer that is not kept, or not used,
/// shows in every tensor the second step moves.
#[test]
fn two_lntl_iterations_match_pytorch() {
    let g = Golden::main();
    let (mut net, heads, losses) = lntl_iterations(&g, 2, &FIXTURE_LNTL);
    assert_iteration_matches(&g, "lntl2", &losses, FIXTURE_LNTL.lambda, &mut net, &heads);
}

/// The authors' PyTorch-0.4 semantics: g takes the phase-2 step with a zero gradient, so it
/// moves by `−lr·(m·buf + wd·p)` after phase 1 (`buf`, `p` its state after phase 1); f and the
/// heads are unaffected.
#[test]
fn legacy_zero_grad_steps_g_by_momentum_and_decay_alone() {
    let g = Golden::main();
    let run = |legacy_zero_grad| {
        let config = LntlConfig {
            legacy_zero_grad,
            ..FIXTURE_LNTL
        };
        let (net, heads, _) = lntl_iterations(&g, 1, &config);
        (net, heads)
    };
    let (mut modern, mut modern_heads) = run(false);
    let (mut legacy, mut legacy_heads) = run(true);
    let config = paper_sgd(LR);
    let classifier: Vec<(Vec<f32>, Vec<f32>)> = modern
        .classifier_params_mut()
        .iter()
        .map(|p| (p.value.clone(), p.momentum.clone()))
        .collect();
    let (modern_all, legacy_all) = (modern.params_mut(), legacy.params_mut());
    let f_count = modern_all.len() - classifier.len();
    for (a, b) in modern_all.iter().zip(&legacy_all).take(f_count) {
        assert_eq!(a.value, b.value, "f's {} is unaffected", a.name);
    }
    for ((value, momentum), p) in classifier.iter().zip(&legacy_all[f_count..]) {
        let mut moved = value.clone();
        let mut buffer = momentum.clone();
        for (v, b) in moved.iter_mut().zip(buffer.iter_mut()) {
            let d = 0.0 + config.weight_decay * *v;
            *b = config.momentum * *b + d;
            *v -= LR * *b;
        }
        assert_eq!(
            p.value, moved,
            "g's {} takes the momentum-only step",
            p.name
        );
        assert_eq!(p.momentum, buffer, "g's {} momentum", p.name);
        assert_ne!(&p.value, value, "the step moves g");
    }
    for (a, b) in modern_heads
        .params_mut()
        .iter()
        .zip(legacy_heads.params_mut())
    {
        assert_eq!(a.value, b.value, "the heads are unaffected");
    }
}

#[test]
fn blindeye_iteration_matches_pytorch() {
    let g = Golden::main();
    let (mut net, mut heads) = initial_models();
    let batch = g.batch();
    let losses = blindeye_step(
        &mut net,
        &mut heads,
        &batch,
        LearningRates::same(LR),
        &paper_sgd(LR),
        0.01,
    );
    assert_iteration_matches(&g, "blindeye", &losses, 0.01, &mut net, &heads);
}

/// LfF on two conv nets (docs/LFF.md, "LfF on LNTL's benchmark"): both start from the fixture's
/// network; two iterations on the batch as training samples 0 and 1, so that the loss
/// averages' later visit and each network's momentum are held too.
#[test]
fn two_lff_iterations_on_the_conv_nets_match_pytorch() {
    let g = Golden::load("golden_lff.safetensors");
    let (mut biased, _) = initial_models();
    let (mut debiased, _) = initial_models();
    let batch = g.batch();
    let mut averages = LffAverages::new(&batch.labels);
    let indices: Vec<usize> = (0..batch.labels.len()).collect();
    let sgd = paper_sgd(LR);
    let mut iterate = || {
        let optimizers = ConvLffOptimizers::Sgd {
            lr: LR,
            config: &sgd,
        };
        conv_lff_step(
            &mut biased,
            &mut debiased,
            &mut averages,
            (&batch, &indices),
            optimizers,
        )
    };
    iterate();
    let step = iterate();
    assert_close(
        "LfF biased loss",
        &[step.biased_loss],
        &g.f32("lff.biased_loss"),
        TOL,
    );
    assert_close(
        "LfF debiased loss",
        &[step.debiased_loss],
        &g.f32("lff.debiased_loss"),
        TOL,
    );
    let initial = || net_state(&mut initial_models().0);
    assert_updates_match(
        &g,
        "lff_biased.after",
        "net",
        initial(),
        net_state(&mut biased),
    );
    assert_updates_match(
        &g,
        "lff_debiased.after",
        "net",
        initial(),
        net_state(&mut debiased),
    );
}
