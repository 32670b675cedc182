//! The same seed computes the same bits on every x86-64 CPU with AVX2 and FMA, whatever its SIMD
//! width and cache geometry: three steps of every method from fixed weights on a fixed batch,
//! and evaluation-mode forwards on a 16-image and a 1-image batch, hash to the SHA-256 digests
//! pinned here, with one thread and with three.
//!
//! The digests were computed on an AVX-512 CPU (the CPUs the committed results come from), and
//! are checked on others under emulation: docs/TESTING.md ("The same bits on every CPU") has the
//! commands. The two places where bits could follow the CPU are gemm's choices of k blocks and of
//! dot-product kernels (src/engine/matmul.rs); our own SIMD code uses the same lanes everywhere.

use lntl::colored::dataset::{COLOR_IMAGE_BYTES, ColoredSplit};
use lntl::engine::adam::{Adam, AdamConfig};
use lntl::engine::param::Param;
use lntl::engine::tensor::Tensor;
use lntl::methods::LearningRates;
use lntl::methods::baseline::baseline_step;
use lntl::methods::batch::{Batch, ImageMode};
use lntl::methods::blindeye::blindeye_step;
use lntl::methods::conv_lff::{ConvLffOptimizers, conv_lff_step};
use lntl::methods::lff::LffAverages;
use lntl::methods::lntl::{LntlConfig, lntl_step};
use lntl::methods::vanilla::vanilla_step;
use lntl::models::color_heads::ColorHeads;
use lntl::models::convnet::ConvNet;
use lntl::models::mlp::{MLP_INPUTS, Mlp, mlp_input};
use lntl::train::config::paper_sgd;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// Images per training batch: 70·10 logits and 70 MLP rows take gemm's general path.
const BATCH: usize = 70;

const LR: f32 = 0.01;

const STEPS: usize = 3;

/// Random digits (pixels uniform in 0…255, labels cycling through 0…9).
fn random_batch(seed: u64, n: usize) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let split = ColoredSplit {
        images: (0..n * COLOR_IMAGE_BYTES).map(|_| rng.random()).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        color_classes: None,
    };
    let indices: Vec<usize> = (0..n).collect();
    Batch::from_split(&split, &indices, ImageMode::Color)
}

/// A SHA-256 over f32 bits, as lowercase hex.
#[derive(Default)]
struct Bits(Sha256);

impl Bits {
    fn floats(&mut self, values: &[f32]) {
        for v in values {
            self.0.update(v.to_le_bytes());
        }
    }

    fn params<'a>(&mut self, params: impl IntoIterator<Item = &'a mut Param>) {
        for p in params {
            self.floats(&p.value);
        }
    }

    fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn baseline() -> String {
    let mut net = ConvNet::new(&mut ChaCha8Rng::seed_from_u64(1));
    let batch = random_batch(2, BATCH);
    let mut bits = Bits::default();
    for _ in 0..STEPS {
        bits.floats(&[baseline_step(&mut net, &batch, LR, &paper_sgd(LR)).loss]);
    }
    bits.params(net.params_mut());
    // Evaluation mode on a last partial batch of 16 (gemm's dot-product kernels for the
    // classifier) and of 1 (its matrix-vector kernels).
    for n in [16, 1] {
        let x = random_batch(3, n).x;
        net.forward_features(&x, false);
        bits.floats(&net.forward_classifier().data);
    }
    bits.hex()
}

/// LNTL (`lntl`) or BlindEye: f, g and the heads after the steps, and the last step's losses.
fn adversarial(lntl: bool) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut net = ConvNet::new(&mut rng);
    let mut heads = ColorHeads::new(&mut rng);
    let batch = random_batch(5, BATCH);
    let mut bits = Bits::default();
    for _ in 0..STEPS {
        let (lr, sgd) = (LearningRates::same(LR), paper_sgd(LR));
        let losses = if lntl {
            lntl_step(&mut net, &mut heads, &batch, lr, &sgd, &LntlConfig::PAPER)
        } else {
            blindeye_step(&mut net, &mut heads, &batch, lr, &sgd, 0.01)
        };
        bits.floats(&[
            losses.classifier.loss,
            losses.regularizer,
            losses.color.loss,
        ]);
    }
    bits.params(net.params_mut());
    bits.params(heads.params_mut());
    bits.hex()
}

/// LfF on the conv nets with Adam.
fn conv_lff() -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let mut biased = ConvNet::new(&mut rng);
    let mut debiased = ConvNet::new(&mut rng);
    let batch = random_batch(7, BATCH);
    let mut averages = LffAverages::new(&batch.labels);
    let indices: Vec<usize> = (0..BATCH).collect();
    let (mut adam_b, mut adam_d) = (
        Adam::new(AdamConfig::pytorch(1e-3)),
        Adam::new(AdamConfig::pytorch(1e-3)),
    );
    let mut bits = Bits::default();
    for _ in 0..STEPS {
        let optimizers = ConvLffOptimizers::Adam {
            lr: 1e-3,
            biased: &mut adam_b,
            debiased: &mut adam_d,
        };
        let step = conv_lff_step(
            &mut biased,
            &mut debiased,
            &mut averages,
            (&batch, &indices),
            optimizers,
        );
        bits.floats(&[step.biased_loss, step.debiased_loss]);
    }
    bits.params(biased.params_mut());
    bits.params(debiased.params_mut());
    bits.hex()
}

/// Vanilla on LfF's MLP with Adam.
fn vanilla_mlp() -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut net = Mlp::new(&mut rng);
    let images: Vec<u8> = (0..BATCH * MLP_INPUTS).map(|_| rng.random()).collect();
    let x: Tensor = mlp_input(&images);
    let labels: Vec<u8> = (0..BATCH).map(|i| (i % 10) as u8).collect();
    let mut adam = Adam::new(AdamConfig::pytorch(1e-3));
    let mut bits = Bits::default();
    for _ in 0..STEPS {
        bits.floats(&[vanilla_step(&mut net, &mut adam, &x, &labels).loss]);
    }
    bits.params(net.params_mut());
    bits.hex()
}

/// Each method's digest.
fn digests() -> Vec<(&'static str, String)> {
    vec![
        ("baseline", baseline()),
        ("lntl", adversarial(true)),
        ("blindeye", adversarial(false)),
        ("conv lff", conv_lff()),
        ("vanilla mlp", vanilla_mlp()),
    ]
}

/// The digests on an AVX-512 CPU (see the module's comment).
const PINNED: [(&str, &str); 5] = [
    (
        "baseline",
        "c0caa90ec1b6887438da9b4c89f694886bbd21d6657cb241c95f97c6d4065441",
    ),
    (
        "lntl",
        "b3986bae2182f7f34909519bb93c1178739cca57f10b53b756de9d96f9c8e650",
    ),
    (
        "blindeye",
        "00a7f42e903e1d63941abe5e08cf4025b6c0337371d24792499a49a0ffd04bda",
    ),
    (
        "conv lff",
        "0646c1555195d1c254166fd8dca0828b7881d08c2a8d9160f5a5134d6aedf63c",
    ),
    (
        "vanilla mlp",
        "4e3d4380b0a44770f1febe8e41aa12fcb215ce83a7ed878eb3cf5b096271d051",
    ),
];

#[test]
fn every_method_computes_the_pinned_bits_with_1_and_3_threads() {
    println!("CPU: {}", lntl::util::cpu::cpu_description());
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        let got = pool.install(digests);
        for (method, digest) in &got {
            println!("{threads} threads: (\"{method}\", \"{digest}\"),");
        }
        let got: Vec<(&str, &str)> = got.iter().map(|(m, d)| (*m, d.as_str())).collect();
        assert_eq!(got, PINNED, "with {threads} threads");
    }
}
