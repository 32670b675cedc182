//! Parameter initializations of docs/SPEC.md §2, from a seeded RNG.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Normal, Uniform};

/// The authors' convolution init: N(0, 2/(k·k·out_channels)).
pub fn conv_normal(
    rng: &mut ChaCha8Rng,
    len: usize,
    kernel: usize,
    out_channels: usize,
) -> Vec<f32> {
    let std = (2.0 / (kernel * kernel * out_channels) as f64).sqrt();
    let dist = Normal::new(0.0, std).expect("finite std");
    (0..len)
        .map(|_| rng.sample::<f64, _>(dist) as f32)
        .collect()
}

/// PyTorch's default for conv/linear weights and biases: kaiming-uniform with a = √5, which is
/// U(−1/√fan_in, 1/√fan_in), the same bound PyTorch uses for the bias.
pub fn pytorch_default_uniform(rng: &mut ChaCha8Rng, len: usize, fan_in: usize) -> Vec<f32> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let dist = Uniform::new_inclusive(-bound, bound).expect("finite bound");
    (0..len)
        .map(|_| rng.sample::<f64, _>(dist) as f32)
        .collect()
}
