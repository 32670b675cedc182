//! The methods on LfF's benchmark against PyTorch (`tools/make_lff_steps_fixture.py`, float64,
//! run by hand with PyTorch 2.15, written after LfF's `train.py` and Group DRO's `loss.py`): two
//! iterations each, the second revisiting two samples, so that LfF's per-sample loss averages'
//! first and later visits, their class-wise normalization, the weights, the generalized
//! cross-entropy, Group DRO's group weights and every Adam's first and second steps are all held
//! to the reference.

use lntl::engine::adam::{Adam, AdamConfig};
use lntl::engine::param::Param;
use lntl::engine::tensor::Tensor;
use lntl::methods::group_dro::{GroupWeights, group_dro_step};
use lntl::methods::lff::Lff;
use lntl::methods::mlp_lntl::MlpLntl;
use lntl::methods::sample_loss_averages::relative_difficulty;
use lntl::methods::vanilla::vanilla_step;
use lntl::models::mlp::{MLP_INPUTS, Mlp, mlp_input};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;

#[path = "common/fixture_tensors.rs"]
mod fixture_tensors;
use fixture_tensors::floats;

/// The fixture's two batches: samples 0..6, then 4..10.
const BATCHES: [std::ops::Range<usize>; 2] = [0..6, 4..10];

fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance * scale,
            "{what}[{i}]: {g} against PyTorch's {w} (largest {scale})"
        );
    }
}

/// Sets the t-th of `params` to scale·sin(0.37·k + t + offset) at flat index k.
fn set_sines(params: Vec<&mut Param>, scale: f64, offset: f64) {
    for (t, p) in params.into_iter().enumerate() {
        for (k, v) in p.value.iter_mut().enumerate() {
            *v = (scale * (0.37 * k as f64 + t as f64 + offset).sin()) as f32;
        }
    }
}

/// An MLP whose t-th parameter holds 0.05·sin(0.37·k + t + offset) at flat index k.
fn sine_mlp(offset: f64) -> Mlp {
    let mut net = Mlp::new(&mut ChaCha8Rng::seed_from_u64(0));
    set_sines(net.params_mut(), 0.05, offset);
    net
}

/// Holds every parameter of `net` to the fixture's `prefix.<name>` (a first layer by every
/// 11th value and its sum).
fn assert_params_match(net: &mut Mlp, file: &SafeTensors, prefix: &str) {
    for p in net.params_mut() {
        let what = format!("{prefix}.{}", p.name);
        if p.value.len() > 10_000 {
            let sampled: Vec<f32> = p.value.iter().step_by(11).copied().collect();
            assert_close(
                &sampled,
                &floats(file, &format!("{what}.every11")),
                1e-5,
                &what,
            );
            let sum: f64 = p.value.iter().map(|&v| f64::from(v)).sum();
            let want = f64::from(floats(file, &format!("{what}.sum"))[0]);
            assert!(
                (sum - want).abs() < 5e-4,
                "{what}: sum {sum} against PyTorch's {want}"
            );
        } else {
            assert_close(&p.value, &floats(file, &what), 1e-5, &what);
        }
    }
}

struct Fixture {
    bytes: Vec<u8>,
}

impl Fixture {
    fn load() -> Fixture {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/lff_steps.safetensors"
        );
        Fixture {
            bytes: std::fs::read(path).unwrap(),
        }
    }

    fn file(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).unwrap()
    }
}

/// The images and labels of the training samples `range`.
fn batch(file: &SafeTensors, range: std::ops::Range<usize>) -> (Tensor, Vec<u8>) {
    let images = file.tensor("images").unwrap().data();
    let labels = file.tensor("labels").unwrap().data();
    (
        mlp_input(&images[range.start * MLP_INPUTS..range.end * MLP_INPUTS]),
        labels[range].to_vec(),
    )
}

#[test]
fn two_group_dro_iterations_match_pytorch() {
    let fixture = Fixture::load();
    let file = fixture.file();
    let colors = file.tensor("colors").unwrap().data().to_vec();
    let mut net = sine_mlp(0.0);
    let mut adam = Adam::new(AdamConfig::pytorch(1e-3));
    let mut weights = GroupWeights::new(0.01);
    for (step, range) in BATCHES.into_iter().enumerate() {
        let (x, y) = batch(&file, range.clone());
        let measured = group_dro_step(&mut net, &mut adam, &mut weights, &x, &y, &colors[range]);
        let name = |what: &str| format!("group_dro.step{}.{what}", step + 1);
        assert_close(
            &[measured.loss],
            &floats(&file, &name("loss")),
            1e-5,
            &name("loss"),
        );
        assert_close(&weights.q, &floats(&file, &name("q")), 1e-6, &name("q"));
    }
    assert_params_match(&mut net, &file, "group_dro");
}

#[test]
fn two_lff_iterations_match_pytorch() {
    let fixture = Fixture::load();
    let file = fixture.file();
    let labels = file.tensor("labels").unwrap().data().to_vec();
    let mut lff = Lff::new(
        &labels,
        AdamConfig::pytorch(1e-3),
        &mut ChaCha8Rng::seed_from_u64(0),
    );
    lff.biased = sine_mlp(0.0);
    lff.debiased = sine_mlp(10.0);
    for (step, range) in BATCHES.into_iter().enumerate() {
        let name = |what: &str| format!("step{}.{what}", step + 1);
        let (x, y) = batch(&file, range.clone());
        let indices: Vec<usize> = range.collect();
        let measured = lff.step(&x, &y, &indices);
        let weights = relative_difficulty(&lff.averages.biased, &lff.averages.debiased, &indices);
        assert_close(
            &weights,
            &floats(&file, &name("weights")),
            1e-5,
            &name("weights"),
        );
        let want_mean = floats(&file, &name("weights")).iter().sum::<f32>() / 6.0;
        assert!((measured.mean_weight - want_mean).abs() < 1e-5);
        assert_close(
            &[measured.biased_loss],
            &floats(&file, &name("biased_loss")),
            1e-5,
            &name("biased_loss"),
        );
        assert_close(
            &[measured.debiased_loss],
            &floats(&file, &name("debiased_loss")),
            1e-5,
            &name("debiased_loss"),
        );
    }
    assert_close(
        lff.averages.biased.values(),
        &floats(&file, "biased_averages"),
        1e-5,
        "f_B's loss averages",
    );
    assert_close(
        lff.averages.debiased.values(),
        &floats(&file, "debiased_averages"),
        1e-5,
        "f_D's loss averages",
    );
    assert_params_match(&mut lff.biased, &file, "biased");
    assert_params_match(&mut lff.debiased, &file, "debiased");
}

#[test]
fn two_vanilla_iterations_match_pytorch() {
    let fixture = Fixture::load();
    let file = fixture.file();
    let mut net = sine_mlp(0.0);
    let mut adam = Adam::new(AdamConfig::pytorch(1e-3));
    for (step, range) in BATCHES.into_iter().enumerate() {
        let (x, y) = batch(&file, range);
        let measured = vanilla_step(&mut net, &mut adam, &x, &y);
        let name = format!("vanilla.step{}.loss", step + 1);
        assert_close(&[measured.loss], &floats(&file, &name), 1e-5, &name);
    }
    assert_params_match(&mut net, &file, "vanilla");
}

#[test]
fn two_lntl_iterations_on_the_mlp_match_pytorch() {
    let fixture = Fixture::load();
    let file = fixture.file();
    let colors = file.tensor("colors").unwrap().data().to_vec();
    // The fixture's strengths, larger than the paper's so that each term moves every weight.
    let mut lntl = MlpLntl::new(
        AdamConfig::pytorch(1e-3),
        1.0,
        0.5,
        &mut ChaCha8Rng::seed_from_u64(0),
    );
    lntl.net = sine_mlp(0.0);
    set_sines(lntl.head_params_mut(), 0.5, 20.0);
    for (step, range) in BATCHES.into_iter().enumerate() {
        let (x, y) = batch(&file, range.clone());
        let measured = lntl.step(&x, &y, &colors[range]);
        for (what, got) in [
            ("loss", measured.classifier.loss),
            ("regularizer", measured.regularizer),
            ("color_loss", measured.color_loss),
        ] {
            let name = format!("lntl.step{}.{what}", step + 1);
            assert_close(&[got], &floats(&file, &name), 1e-5, &name);
        }
    }
    assert_params_match(&mut lntl.net, &file, "lntl");
    for p in lntl.head_params_mut() {
        let what = format!("lntl.{}", p.name);
        assert_close(&p.value, &floats(&file, &what), 1e-5, &what);
    }
}
