//! Finite-difference checks of every hand-written backward pass.
//!
//! Each check builds a scalar `L = Σ wᵢ·yᵢ` from a layer's output with fixed random weights w,
//! so that `∂L/∂y = w`, runs the layer's backward from w, and compares a random sample of the
//! analytic gradient entries with central differences `(L(x+ε) − L(x−ε)) / 2ε` (L summed in
//! f64). The engine is f32, so ε = 1e-2 for single layers (1e-3 for whole networks, where many
//! ReLUs sit near their kink) and the tolerance is `|analytic − numeric| ≤
//! 2e-2·max(|numeric|, 0.05) + 2e-3`. ReLU and max pooling get inputs spaced well apart, so ±ε
//! never crosses a kink; the seeds are fixed, so the checks are stable.

use lntl::engine::batch_norm::BatchNorm2d;
use lntl::engine::conv::{Conv2d, ConvSpec};
use lntl::engine::cross_entropy::cross_entropy;
use lntl::engine::global_avg_pool::{global_avg_pool_backward, global_avg_pool_forward};
use lntl::engine::grad_reversal::grad_reversal_backward;
use lntl::engine::linear::Linear;
use lntl::engine::max_pool::MaxPool2d;
use lntl::engine::neg_entropy::neg_entropy;
use lntl::engine::param::Param;
use lntl::engine::relu::{relu_backward, relu_forward};
use lntl::engine::softmax::RowLayout;
use lntl::engine::tensor::Tensor;
use lntl::engine::uniform_confusion::uniform_confusion;
use lntl::engine::weighted_cross_entropy::{gce_weights, weighted_cross_entropy};
use lntl::methods::baseline::classification_loss;
use lntl::methods::head_losses::heads_cross_entropy;
use lntl::models::color_heads::ColorHeads;
use lntl::models::convnet::ConvNet;
use lntl::models::mlp::{MLP_INPUTS, Mlp};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Step for single layers, whose inputs are built to stay clear of kinks.
const EPS: f32 = 1e-2;
/// Step for whole networks, where thousands of ReLUs sit at random distances from their kink.
const NETWORK_EPS: f32 = 1e-3;
const SAMPLES: usize = 40;
/// The change of L a step along a gradient's signs aims for ([`check_along_signs`]).
const LOSS_STEP: f64 = 1e-3;

fn random(rng: &mut ChaCha8Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-scale..scale)).collect()
}

fn random_tensor(rng: &mut ChaCha8Rng, dims: [usize; 4]) -> Tensor {
    Tensor::from_vec(dims, random(rng, dims.iter().product(), 1.0))
}

fn weighted_sum(y: &[f32], w: &[f32]) -> f64 {
    y.iter()
        .zip(w)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// Compares sampled entries of `analytic` with central differences; `loss_at(i, δ)` evaluates
/// L with entry i of the checked vector shifted by δ.
fn check(
    what: &str,
    rng: &mut ChaCha8Rng,
    analytic: &[f32],
    loss_at: impl FnMut(usize, f32) -> f64,
) {
    check_with_step(what, rng, analytic, EPS, loss_at);
}

fn check_with_step(
    what: &str,
    rng: &mut ChaCha8Rng,
    analytic: &[f32],
    eps: f32,
    mut loss_at: impl FnMut(usize, f32) -> f64,
) {
    for _ in 0..SAMPLES.min(analytic.len()) {
        let i = rng.random_range(0..analytic.len());
        let numeric = ((loss_at(i, eps) - loss_at(i, -eps)) / (2.0 * f64::from(eps))) as f32;
        let a = analytic[i];
        let tol = 2e-2 * numeric.abs().max(0.05) + 2e-3;
        assert!(
            (a - numeric).abs() <= tol,
            "{what}[{i}]: analytic {a} vs numeric {numeric}"
        );
    }
}

/// Compares the derivative along the direction v = sign(analytic) (a random sign where the
/// analytic entry is 0): `Σ |analyticᵢ|` against `(L(x + εv) − L(x − εv)) / 2ε`, within 3 %.
/// Unlike sampled entries this sees every entry at once, so it holds gradients whose entries all
/// sit below the per-entry floor (the heads' dφ: every entry under 3e-3) to their scale: a
/// gradient off by a factor, with wrong signs, or zero fails it. Measured (`-- --nocapture`):
/// 0.04 % on the heads' dφ, at most 0.8 % (conv1's bias, whose moves cross max-pooling ties);
/// random ±1 directions fared worse, 1–5 %: their derivative is a sum of cancelling terms, so
/// the kinks crossed weigh more.
fn check_along_signs(
    what: &str,
    rng: &mut ChaCha8Rng,
    analytic: &[f32],
    mut loss_along: impl FnMut(&[f32], f32) -> f64,
) {
    let v: Vec<f32> = analytic
        .iter()
        .map(|&a| match a {
            0.0 if rng.random_bool(0.5) => 1.0,
            0.0 => -1.0,
            a => a.signum(),
        })
        .collect();
    let along = weighted_sum(analytic, &v);
    // A step that changes L by at most about `LOSS_STEP`: large against f32 rounding of L,
    // small against the curvature that moving every entry at once meets.
    let eps = NETWORK_EPS.min((LOSS_STEP / along) as f32);
    let numeric = (loss_along(&v, eps) - loss_along(&v, -eps)) / (2.0 * f64::from(eps));
    eprintln!("{what} along its signs: analytic {along:.5} vs numeric {numeric:.5}");
    assert!(
        (along - numeric).abs() <= 2e-2 * numeric.abs() + 1e-4,
        "{what} along its signs: analytic {along} vs numeric {numeric}"
    );
}

/// Runs a layer's forward into a fresh tensor.
fn run(forward: impl FnOnce(&mut Tensor)) -> Tensor {
    let mut out = Tensor::empty();
    forward(&mut out);
    out
}

fn shifted(x: &Tensor, i: usize, d: f32) -> Tensor {
    let mut x = x.clone();
    x.data[i] += d;
    x
}

#[test]
fn conv2d_every_shape_the_networks_use() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let specs = [
        ConvSpec {
            in_channels: 3,
            out_channels: 4,
            kernel: 5,
            stride: 1,
            padding: 2,
            groups: 1,
        },
        ConvSpec {
            in_channels: 4,
            out_channels: 6,
            kernel: 3,
            stride: 2,
            padding: 1,
            groups: 1,
        },
        ConvSpec {
            in_channels: 6,
            out_channels: 6,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        },
        // Fewer outputs than inputs per group: lowered through patches of the output gradient.
        ConvSpec {
            in_channels: 12,
            out_channels: 6,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        },
    ];
    for spec in specs {
        let what = format!(
            "conv {}x{} s{} g{}",
            spec.kernel, spec.kernel, spec.stride, spec.groups
        );
        let w = random(&mut rng, spec.groups * spec.group_weights(), 0.5);
        let b = random(&mut rng, spec.out_channels, 0.5);
        let mut conv = Conv2d::new("c", spec, w, b);
        let x = random_tensor(&mut rng, [2, 7, 7, spec.in_channels]);
        let out = run(|o| conv.forward(&x, o));
        let dy = random(&mut rng, out.data.len(), 1.0);
        let dx =
            run(|dx| conv.backward(&x, &Tensor::from_vec(out.dims, dy.clone()), true, Some(dx)));
        check(&format!("{what} dx"), &mut rng, &dx.data, |i, d| {
            weighted_sum(
                &run(|o| conv.clone().forward(&shifted(&x, i, d), o)).data,
                &dy,
            )
        });
        check(
            &format!("{what} dW"),
            &mut rng,
            &conv.weight.grad,
            |i, d| {
                let mut c = conv.clone();
                c.weight.value[i] += d;
                weighted_sum(&run(|o| c.forward(&x, o)).data, &dy)
            },
        );
        check(&format!("{what} db"), &mut rng, &conv.bias.grad, |i, d| {
            let mut c = conv.clone();
            c.bias.value[i] += d;
            weighted_sum(&run(|o| c.forward(&x, o)).data, &dy)
        });
    }
}

/// Both forms of batch norm: alone, and with the ReLU that follows it fused in. Shifting one
/// input moves every output of its channel, so the fused form takes the whole networks' smaller
/// step, which keeps the differences off the ReLU's kink.
#[test]
fn batch_norm_training_mode() {
    for (what, make, eps) in [
        (
            "bn",
            BatchNorm2d::new as fn(&str, usize) -> BatchNorm2d,
            EPS,
        ),
        ("bn+relu", BatchNorm2d::with_relu, NETWORK_EPS),
    ] {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let mut bn = make("bn", 5);
        bn.gamma.value = random(&mut rng, 5, 1.0).iter().map(|v| v + 1.5).collect();
        bn.beta.value = random(&mut rng, 5, 1.0);
        let x = random_tensor(&mut rng, [3, 4, 4, 5]);
        let out = run(|o| bn.forward_train(&x, o));
        if what == "bn+relu" {
            assert!(out.data.iter().all(|&v| v >= 0.0));
            assert!(out.data.contains(&0.0), "the ReLU clamps something");
        }
        let dy = random(&mut rng, out.data.len(), 1.0);
        let dx = run(|dx| bn.backward(&x, &Tensor::from_vec(out.dims, dy.clone()), true, Some(dx)));
        check_with_step(&format!("{what} dx"), &mut rng, &dx.data, eps, |i, d| {
            weighted_sum(
                &run(|o| bn.clone().forward_train(&shifted(&x, i, d), o)).data,
                &dy,
            )
        });
        check_with_step(
            &format!("{what} dγ"),
            &mut rng,
            &bn.gamma.grad,
            eps,
            |i, d| {
                let mut b = bn.clone();
                b.gamma.value[i] += d;
                weighted_sum(&run(|o| b.forward_train(&x, o)).data, &dy)
            },
        );
        check_with_step(
            &format!("{what} dβ"),
            &mut rng,
            &bn.beta.grad,
            eps,
            |i, d| {
                let mut b = bn.clone();
                b.beta.value[i] += d;
                weighted_sum(&run(|o| b.forward_train(&x, o)).data, &dy)
            },
        );
    }
}

/// Distinct values at least 0.05 apart and 0.025 away from 0, in random order, so that ±ε never
/// changes which element of a pooling window is largest or the sign of a ReLU input.
fn well_separated_tensor(rng: &mut ChaCha8Rng, dims: [usize; 4]) -> Tensor {
    let n: usize = dims.iter().product();
    let mut values: Vec<f32> = (0..n)
        .map(|k| (k as f32 - n as f32 / 2.0) * 0.05 + 0.025)
        .collect();
    for i in (1..n).rev() {
        values.swap(i, rng.random_range(0..=i));
    }
    Tensor::from_vec(dims, values)
}

#[test]
fn relu_max_pool_and_global_average_pool() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let x = well_separated_tensor(&mut rng, [2, 8, 8, 3]);

    let relu = |x: &Tensor| {
        let mut y = x.clone();
        relu_forward(&mut y);
        y
    };
    let y = relu(&x);
    let dy = random(&mut rng, y.data.len(), 1.0);
    let mut dx = Tensor::from_vec(y.dims, dy.clone());
    relu_backward(&y, &mut dx);
    check("relu", &mut rng, &dx.data, |i, d| {
        weighted_sum(&relu(&shifted(&x, i, d)).data, &dy)
    });

    let pool = MaxPool2d::new(3, 2, 1);
    let mut routes = Vec::new();
    let y = run(|o| pool.forward(&x, o, &mut routes));
    let dy = random(&mut rng, y.data.len(), 1.0);
    let dx = run(|dx| pool.backward(&Tensor::from_vec(y.dims, dy.clone()), &routes, x.dims, dx));
    check("max pool", &mut rng, &dx.data, |i, d| {
        let mut routes = Vec::new();
        weighted_sum(
            &run(|o| pool.forward(&shifted(&x, i, d), o, &mut routes)).data,
            &dy,
        )
    });

    let y = run(|o| global_avg_pool_forward(&x, o));
    let dy = random(&mut rng, y.data.len(), 1.0);
    let dx = run(|dx| global_avg_pool_backward(&Tensor::from_vec(y.dims, dy.clone()), x.dims, dx));
    check("global avg pool", &mut rng, &dx.data, |i, d| {
        weighted_sum(
            &run(|o| global_avg_pool_forward(&shifted(&x, i, d), o)).data,
            &dy,
        )
    });
}

#[test]
fn linear_layer() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let (w, b) = (random(&mut rng, 4 * 6, 0.5), random(&mut rng, 4, 0.5));
    let mut fc = Linear::new("fc", 6, 4, w, b);
    let x = random_tensor(&mut rng, [3, 1, 1, 6]);
    let y = fc.forward(&x);
    let dy = random(&mut rng, y.data.len(), 1.0);
    let dx = fc.backward(&Tensor::from_vec(y.dims, dy.clone()), x.dims);
    check("linear dx", &mut rng, &dx.data, |i, d| {
        weighted_sum(&fc.clone().forward(&shifted(&x, i, d)).data, &dy)
    });
    check("linear dW", &mut rng, &fc.weight.grad, |i, d| {
        let mut f = fc.clone();
        f.weight.value[i] += d;
        weighted_sum(&f.forward(&x).data, &dy)
    });
    check("linear db", &mut rng, &fc.bias.grad, |i, d| {
        let mut f = fc.clone();
        f.bias.value[i] += d;
        weighted_sum(&f.forward(&x).data, &dy)
    });
}

/// The middle head's slice of the heads' logits: 8 bins at offset 8 in rows of 24 values.
const HEAD_1: RowLayout = RowLayout {
    stride: 24,
    offset: 8,
    classes: 8,
};

#[test]
fn losses_with_strides_offsets_and_ignored_rows() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // 6 rows of 8 logits inside rows of 24 values, at offset 8 (the middle head's slice).
    let logits = random(&mut rng, 6 * 24, 2.0);
    let labels = [3u8, 255, 0, 7, 255, 5];
    type Loss = fn(&[f32], Option<&mut [f32]>) -> f32;
    let losses: [(&str, Loss); 3] = [
        ("cross-entropy", |z, g| {
            cross_entropy(z, HEAD_1, &[3, 255, 0, 7, 255, 5], Some(255), 1.0, g)
        }),
        ("negative entropy", |z, g| neg_entropy(z, HEAD_1, 6, 1.0, g)),
        ("uniform confusion", |z, g| {
            uniform_confusion(z, HEAD_1, 6, 1.0, g)
        }),
    ];
    assert_eq!(labels.len(), 6);
    for (what, loss) in losses {
        let mut grad = vec![0.0; logits.len()];
        loss(&logits, Some(&mut grad));
        check(what, &mut rng, &grad, |i, d| {
            let mut z = logits.clone();
            z[i] += d;
            f64::from(loss(&z, None))
        });
        assert!(
            grad.chunks(24)
                .all(|row| row[..8].iter().chain(&row[16..]).all(|g| *g == 0.0)),
            "{what}: other heads untouched"
        );
    }
    let mut grad = vec![0.0; logits.len()];
    cross_entropy(&logits, HEAD_1, &labels, Some(255), 1.0, Some(&mut grad));
    assert!(
        grad[24..48].iter().all(|g| *g == 0.0),
        "ignored rows get no gradient"
    );
}

#[test]
fn gradient_reversal_negates_scales_and_accumulates() {
    let g = Tensor::from_vec([1, 1, 1, 3], vec![1.0, -2.0, 0.5]);
    let mut below = Tensor::from_vec([1, 1, 1, 3], vec![1.0, 1.0, 1.0]);
    grad_reversal_backward(&g, 0.1, &mut below);
    assert_eq!(below.data, vec![0.9, 1.2, 0.95]);
}

/// (name, gradient) of every parameter, in the model's order.
fn param_grads(params: Vec<&mut Param>) -> Vec<(String, Vec<f32>)> {
    params
        .into_iter()
        .map(|p| (p.name.clone(), p.grad.clone()))
        .collect()
}

/// Checks every parameter's gradient of a whole network; `loss_at(k, i, δ)` evaluates the loss
/// with entry i of parameter k shifted by δ.
fn check_params(
    what: &str,
    rng: &mut ChaCha8Rng,
    grads: &[(String, Vec<f32>)],
    mut loss_at: impl FnMut(usize, usize, f32) -> f64,
) {
    for (k, (name, grad)) in grads.iter().enumerate() {
        check_with_step(&format!("{what} {name}"), rng, grad, NETWORK_EPS, |i, d| {
            loss_at(k, i, d)
        });
    }
}

/// [`check_along_signs`] for every parameter of a whole network; `loss_along(k, v, δ)`
/// evaluates the loss with parameter k moved by δ·v.
fn check_params_along_signs(
    what: &str,
    rng: &mut ChaCha8Rng,
    grads: &[(String, Vec<f32>)],
    mut loss_along: impl FnMut(usize, &[f32], f32) -> f64,
) {
    for (k, (name, grad)) in grads.iter().enumerate() {
        check_along_signs(&format!("{what} {name}"), rng, grad, |v, d| {
            loss_along(k, v, d)
        });
    }
}

fn small_batch(rng: &mut ChaCha8Rng) -> (Tensor, Vec<u8>, Vec<u8>) {
    let x = random_tensor(rng, [3, 28, 28, 3]);
    let labels = vec![1, 4, 9];
    let bias = (0..3 * 3 * 196)
        .map(|i| if i % 5 == 0 { 255 } else { (i % 8) as u8 })
        .collect();
    (x, labels, bias)
}

#[test]
fn whole_classifier_network() {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let net = ConvNet::new(&mut rng);
    let (x, labels, _) = small_batch(&mut rng);
    let loss = |net: &mut ConvNet, x: &Tensor| -> f64 {
        net.forward_features(x, true);
        let logits = net.forward_classifier();
        let mut d = Tensor::zeros(logits.dims);
        f64::from(classification_loss(logits, &labels, &mut d))
    };
    let mut model = net.clone();
    model.forward_features(&x, true);
    let logits = model.forward_classifier();
    let mut dlogits = Tensor::zeros(logits.dims);
    classification_loss(logits, &labels, &mut dlogits);
    model.backward_classifier(&dlogits);
    model.backward_features();
    let grads = param_grads(model.params_mut());
    check_params("convnet", &mut rng, &grads, |k, i, d| {
        let mut probe = net.clone();
        probe.params_mut()[k].value[i] += d;
        loss(&mut probe, &x)
    });
    check_params_along_signs("convnet", &mut rng, &grads, |k, v, d| {
        let mut probe = net.clone();
        let p = &mut probe.params_mut()[k].value;
        p.iter_mut().zip(v).for_each(|(p, v)| *p += d * v);
        loss(&mut probe, &x)
    });
}

#[test]
fn whole_color_heads() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let heads = ColorHeads::new(&mut rng);
    let (_, _, bias) = small_batch(&mut rng);
    let phi = {
        let mut p = random_tensor(&mut rng, [3, 14, 14, 32]);
        relu_forward(&mut p);
        p
    };
    let loss = |heads: &mut ColorHeads, phi: &Tensor| -> f64 {
        let logits = heads.forward(phi, true);
        let mut d = Tensor::zeros(logits.dims);
        f64::from(heads_cross_entropy(logits, &bias, &mut d))
    };
    let mut model = heads.clone();
    model.forward(&phi, true);
    let (logits, dlogits) = model.logits_and_grad();
    heads_cross_entropy(logits, &bias, dlogits);
    let dphi = model.backward(&phi, true).clone();
    check_with_step("heads dφ", &mut rng, &dphi.data, NETWORK_EPS, |i, d| {
        loss(&mut heads.clone(), &shifted(&phi, i, d))
    });
    check_along_signs("heads dφ", &mut rng, &dphi.data, |v, d| {
        let mut moved = phi.clone();
        moved.data.iter_mut().zip(v).for_each(|(x, v)| *x += d * v);
        loss(&mut heads.clone(), &moved)
    });
    let grads = param_grads(model.params_mut());
    check_params("heads", &mut rng, &grads, |k, i, d| {
        let mut probe = heads.clone();
        probe.params_mut()[k].value[i] += d;
        loss(&mut probe, &phi)
    });
    check_params_along_signs("heads", &mut rng, &grads, |k, v, d| {
        let mut probe = heads.clone();
        let p = &mut probe.params_mut()[k].value;
        p.iter_mut().zip(v).for_each(|(p, v)| *p += d * v);
        loss(&mut probe, &phi)
    });
}

#[test]
fn whole_mlp() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let net = Mlp::new(&mut rng);
    let x = Tensor::from_vec([3, 1, 1, MLP_INPUTS], random(&mut rng, 3 * MLP_INPUTS, 1.0));
    let labels = vec![2, 7, 0];
    let loss = |net: &mut Mlp| -> f64 {
        let logits = net.forward(&x);
        let mut d = Tensor::zeros(logits.dims);
        f64::from(classification_loss(logits, &labels, &mut d))
    };
    let mut model = net.clone();
    let logits = model.forward(&x);
    let mut dlogits = Tensor::zeros(logits.dims);
    classification_loss(logits, &labels, &mut dlogits);
    model.backward(&dlogits);
    let grads = param_grads(model.params_mut());
    check_params("mlp", &mut rng, &grads, |k, i, d| {
        let mut probe = net.clone();
        probe.params_mut()[k].value[i] += d;
        loss(&mut probe)
    });
    check_params_along_signs("mlp", &mut rng, &grads, |k, v, d| {
        let mut probe = net.clone();
        let p = &mut probe.params_mut()[k].value;
        p.iter_mut().zip(v).for_each(|(p, v)| *p += d * v);
        loss(&mut probe)
    });
}

/// LfF's losses: per-row weights (its relative-difficulty weight, or GCE's q·p_y^q taken at the
/// current logits and held fixed, as LfF's code detaches it).
#[test]
fn weighted_and_generalized_cross_entropy() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let logits = random(&mut rng, 4 * 10, 2.0);
    let labels = [3u8, 0, 9, 3];
    for weights in [
        vec![0.2, 1.0, 0.0, 0.7],
        gce_weights(&logits, &labels, 10, 0.7),
    ] {
        let mut d = vec![0.0; logits.len()];
        weighted_cross_entropy(&logits, &labels, &weights, 10, &mut d);
        check("weighted cross-entropy", &mut rng, &d, |i, delta| {
            let mut z = logits.clone();
            z[i] += delta;
            let mut scratch = vec![0.0; z.len()];
            f64::from(weighted_cross_entropy(
                &z,
                &labels,
                &weights,
                10,
                &mut scratch,
            ))
        });
    }
}
