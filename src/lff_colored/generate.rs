//! Building LfF's Colored-MNIST from MNIST: colors assigned by [`assign_colors`] (the training
//! split with a fraction `r` of bias-conflicting digits, the test split unbiased: a tenth of
//! each class per color), each image painted with one noisy color, `k = clamp(mean + N(0, s²),
//! 0, 1)` per channel, every pixel `k × gray` truncated to a byte (float32, as LfF computes it).
//! LfF draws the noise unseeded; here a seed fixes it.

use crate::colored::dataset::{COLOR_IMAGE_BYTES, ColoredSplit};
use crate::data::mnist::{Digits, Mnist, PIXELS};
use crate::lff_colored::assignment::assign_colors;
use crate::lff_colored::palette::{MEAN_COLORS, severity_std};
use anyhow::{Result, ensure};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// LfF's four fractions of bias-conflicting training digits, as its table lists them.
pub const CONFLICT_RATIOS: [f64; 4] = [0.005, 0.01, 0.02, 0.05];

/// The fraction of each class's test digits in its own color: one tenth, i.e. every color
/// equally often (LfF's `valid` split, which is what it evaluates on).
pub const TEST_ALIGNED: f64 = 0.1;

/// LfF's Colored-MNIST for one conflicting fraction and severity. In each split,
/// `color_classes` holds every image's color index.
#[derive(Debug, Clone, PartialEq)]
pub struct LffColoredMnist {
    /// The fraction r of bias-conflicting training digits.
    pub conflict_ratio: f64,
    /// The color-noise severity, 1..=5.
    pub severity: u8,
    /// The seed of the color noise (unknown for a dataset read from LfF's files).
    pub seed: Option<u64>,
    /// 60,000 training digits.
    pub train: ColoredSplit,
    /// 10,000 test digits (LfF's `valid`).
    pub test: ColoredSplit,
}

/// Paints a 28×28 gray digit in `color` (RGB in [0, 1]): HWC bytes `trunc(color[c] × gray)`.
pub fn colorize(gray: &[u8], color: [f32; 3], out: &mut [u8]) {
    for (pixel, &g) in out.chunks_exact_mut(3).zip(gray) {
        for (c, byte) in pixel.iter_mut().enumerate() {
            // `as` truncates toward zero, as numpy's float → uint8 conversion does here.
            *byte = (color[c] * f32::from(g)) as u8;
        }
    }
}

/// One split: `digits` colored with a fraction `aligned` of each class in its own color.
fn color_split(digits: &Digits, aligned: f64, std: f32, rng: &mut ChaCha8Rng) -> ColoredSplit {
    let colors = assign_colors(&digits.labels, aligned);
    let mut images = vec![0u8; digits.len() * COLOR_IMAGE_BYTES];
    for (i, (image, &color)) in images
        .chunks_exact_mut(COLOR_IMAGE_BYTES)
        .zip(&colors)
        .enumerate()
    {
        let mean = MEAN_COLORS[usize::from(color)];
        let noisy: [f32; 3] = std::array::from_fn(|c| {
            let noise: f32 = rng.sample(StandardNormal);
            (mean[c] + noise * std).clamp(0.0, 1.0)
        });
        colorize(&digits.images[i * PIXELS..(i + 1) * PIXELS], noisy, image);
    }
    ColoredSplit {
        images,
        labels: digits.labels.clone(),
        color_classes: Some(colors),
    }
}

/// Builds the dataset with a fraction `conflict_ratio` of bias-conflicting training digits at
/// `severity`, its color noise drawn from `seed` (the training split from stream 0, the test
/// split from stream 1).
pub fn generate(
    mnist: &Mnist,
    conflict_ratio: f64,
    severity: u8,
    seed: u64,
) -> Result<LffColoredMnist> {
    ensure!(
        conflict_ratio > 0.0 && conflict_ratio < 1.0,
        "the bias-conflicting fraction must be in (0, 1), got {conflict_ratio}"
    );
    let std = severity_std(severity)
        .ok_or_else(|| anyhow::anyhow!("the severity must be 1 to 5, got {severity}"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let train = color_split(&mnist.train, 1.0 - conflict_ratio, std, &mut rng);
    rng.set_stream(1);
    let test = color_split(&mnist.test, TEST_ALIGNED, std, &mut rng);
    Ok(LffColoredMnist {
        conflict_ratio,
        severity,
        seed: Some(seed),
        train,
        test,
    })
}

/// Training digits held out by [`generate_validation`].
pub const VALIDATION_DIGITS: usize = 10_000;

/// The benchmark for tuning without the test split: its construction ([`generate`]) on the first
/// 50,000 training digits, with the last [`VALIDATION_DIGITS`] training digits in the role of
/// the test split (colored as the test split is: every color a tenth of each class).
pub fn generate_validation(
    mnist: &Mnist,
    conflict_ratio: f64,
    severity: u8,
    seed: u64,
) -> Result<LffColoredMnist> {
    let n = mnist.train.len();
    ensure!(
        n > VALIDATION_DIGITS,
        "validation holds out {VALIDATION_DIGITS} training digits; there are {n}"
    );
    let part = |range: std::ops::Range<usize>| Digits {
        images: mnist.train.images[range.start * PIXELS..range.end * PIXELS].to_vec(),
        labels: mnist.train.labels[range].to_vec(),
    };
    let held_out = Mnist {
        train: part(0..n - VALIDATION_DIGITS),
        test: part(n - VALIDATION_DIGITS..n),
    };
    generate(&held_out, conflict_ratio, severity, seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colorize_truncates_the_product() {
        let gray = [0u8, 255, 128];
        let mut out = [7u8; 9];
        colorize(&gray, [0.5, 1.0, 0.3], &mut out);
        // 0.5·128 = 64; 0.3·255 = 76.5 → 76; 0.3·128 = 38.4 → 38; the background stays 0.
        assert_eq!(out, [0, 0, 0, 127, 255, 76, 64, 128, 38]);
    }
}
