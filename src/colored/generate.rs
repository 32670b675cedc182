//! The Colored-MNIST protocol (SPEC.md §1): paint each digit's foreground (gray > 128) in one
//! jittered color, `c = clip(mean/255 + N(0, σ²·I₃), 0, 1)`, stored as `round(255·c)`. Training
//! digits take their own class's mean color; test digits a uniformly random class's.

use crate::colored::dataset::{COLOR_IMAGE_BYTES, ColoredMnist, ColoredSplit};
use crate::colored::palette::PALETTE;
use crate::data::mnist::{CLASSES, Digits, Mnist, PIXELS};
use crate::util::digest::sha256_hex;
use anyhow::{Result, ensure};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

/// A pixel is foreground when its MNIST gray value exceeds this.
pub const FOREGROUND_THRESHOLD: u8 = 128;

/// How each split chooses the mean color of a digit.
#[derive(Debug, Clone, Copy)]
enum ColorChoice {
    OwnClass,
    RandomClass,
}

/// An RNG stream determined by (seed, σ², split), so that every dataset is reproducible and the
/// splits and variances draw independent colors.
fn stream(seed: u64, variance: f64, split: &str) -> ChaCha8Rng {
    let key = format!(
        "lntl colored-mnist v1|seed={seed}|var_bits={:016x}|{split}",
        variance.to_bits()
    );
    let digest = sha256_hex(key.as_bytes());
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&digest[2 * i..2 * i + 2], 16).expect("hex digest");
    }
    ChaCha8Rng::from_seed(bytes)
}

/// One jittered color: `round(255 · clip(mean/255 + σ·z, 0, 1))` per channel, z ~ N(0, 1).
fn jittered_color(mean: [u8; 3], sigma: f64, rng: &mut ChaCha8Rng) -> [u8; 3] {
    mean.map(|m| {
        let z: f64 = rng.sample(StandardNormal);
        let c = (f64::from(m) / 255.0 + sigma * z).clamp(0.0, 1.0);
        (255.0 * c).round() as u8
    })
}

/// Paints one gray digit into `out` (28×28×3): foreground in `color`, background black.
pub fn paint(gray: &[u8], color: [u8; 3], out: &mut [u8]) {
    for (px, rgb) in gray.iter().zip(out.chunks_exact_mut(3)) {
        let c = if *px > FOREGROUND_THRESHOLD {
            color
        } else {
            [0; 3]
        };
        rgb.copy_from_slice(&c);
    }
}

fn color_split(
    digits: &Digits,
    sigma: f64,
    choice: ColorChoice,
    mut rng: ChaCha8Rng,
) -> ColoredSplit {
    let (color_classes, colors): (Vec<u8>, Vec<[u8; 3]>) = digits
        .labels
        .iter()
        .map(|&label| {
            let class = match choice {
                ColorChoice::OwnClass => label,
                ColorChoice::RandomClass => rng.random_range(0..CLASSES as u8),
            };
            (
                class,
                jittered_color(PALETTE[usize::from(class)], sigma, &mut rng),
            )
        })
        .unzip();
    let mut images = vec![0u8; digits.len() * COLOR_IMAGE_BYTES];
    images
        .par_chunks_mut(COLOR_IMAGE_BYTES)
        .zip(digits.images.par_chunks(PIXELS))
        .zip(colors.par_iter())
        .for_each(|((out, gray), &color)| paint(gray, color, out));
    ColoredSplit {
        images,
        labels: digits.labels.clone(),
        color_classes: Some(color_classes),
    }
}

/// Builds Colored-MNIST with jitter variance `variance` (σ², ≥ 0) from `mnist`, deterministically
/// for a given (σ², seed).
pub fn generate(mnist: &Mnist, variance: f64, seed: u64) -> Result<ColoredMnist> {
    ensure!(
        variance.is_finite() && variance >= 0.0,
        "the color variance σ² must be a finite number ≥ 0, got {variance}"
    );
    let sigma = variance.sqrt();
    Ok(ColoredMnist {
        variance,
        seed: Some(seed),
        train: color_split(
            &mnist.train,
            sigma,
            ColorChoice::OwnClass,
            stream(seed, variance, "train"),
        ),
        test: color_split(
            &mnist.test,
            sigma,
            ColorChoice::RandomClass,
            stream(seed, variance, "test"),
        ),
        test_gray: mnist.test.images.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colored::stats::{class_color_stats, clipped_normal_moments, image_color};

    /// Synthetic digits: pixel 0 has gray 128 (background), pixel 1 has 129 (foreground), the
    /// rest 200.
    fn synthetic(n: usize) -> Mnist {
        let digits = |n: usize| {
            let mut images = vec![200u8; n * PIXELS];
            for i in 0..n {
                images[i * PIXELS] = 128;
                images[i * PIXELS + 1] = 129;
            }
            Digits {
                images,
                labels: (0..n).map(|i| (i % CLASSES) as u8).collect(),
            }
        };
        Mnist {
            train: digits(n),
            test: digits(n),
        }
    }

    #[test]
    fn deterministic_per_variance_and_seed() {
        let m = synthetic(200);
        let a = generate(&m, 0.02, 1).unwrap();
        assert_eq!(a, generate(&m, 0.02, 1).unwrap());
        assert_ne!(a.train.images, generate(&m, 0.02, 2).unwrap().train.images);
        assert_ne!(a.train.images, generate(&m, 0.025, 1).unwrap().train.images);
    }

    #[test]
    fn mask_threshold_is_strictly_above_128() {
        let data = generate(&synthetic(50), 0.0, 0).unwrap();
        for i in 0..50 {
            let image = data.train.image(i);
            assert_eq!(&image[..3], &[0, 0, 0], "gray 128 is background");
            let class = usize::from(data.train.labels[i]);
            assert_eq!(
                &image[3..6],
                &PALETTE[class],
                "gray 129 is painted, σ² = 0 → palette"
            );
            assert!(
                image[6..].chunks(3).all(|p| p == PALETTE[class]),
                "one flat color"
            );
        }
    }

    #[test]
    fn colors_follow_palette_with_variance_sigma_squared() {
        // σ² = 0.01 → σ = 0.1. Using σ² as the std (0.01) or σ as the variance, or jitter on
        // the 0..255 scale, moves the std far outside the tolerance.
        let variance = 0.01;
        let sigma: f64 = 0.1;
        let data = generate(&synthetic(20_000), variance, 7).unwrap();
        for s in class_color_stats(&data.train) {
            for c in 0..3 {
                let (mean, std) =
                    clipped_normal_moments(f64::from(PALETTE[s.class][c]) / 255.0, sigma);
                assert!(
                    (s.mean[c] - mean).abs() < 0.01,
                    "class {} ch {c}: mean {} vs {mean}",
                    s.class,
                    s.mean[c]
                );
                if std > 0.05 {
                    assert!(
                        (s.std[c] / std - 1.0).abs() < 0.08,
                        "class {} ch {c}: std {} vs {std}",
                        s.class,
                        s.std[c]
                    );
                }
            }
        }
    }

    #[test]
    fn training_colors_match_labels_and_test_colors_are_random() {
        let data = generate(&synthetic(20_000), 0.02, 3).unwrap();
        assert_eq!(
            data.train.color_classes.as_deref(),
            Some(&data.train.labels[..])
        );
        let classes = data.test.color_classes.as_ref().unwrap();
        let mut counts = [0usize; CLASSES];
        classes.iter().for_each(|&c| counts[usize::from(c)] += 1);
        assert!(
            counts.iter().all(|&c| (1700..2300).contains(&c)),
            "{counts:?}"
        );
        let agree = classes
            .iter()
            .zip(&data.test.labels)
            .filter(|(c, l)| c == l)
            .count();
        assert!(
            (1700..2300).contains(&agree),
            "color class = label in {agree} of 20000"
        );
        // The color really comes from the recorded class: nearest palette entry at σ² = 0.
        let exact = generate(&synthetic(100), 0.0, 3).unwrap();
        for i in 0..100 {
            let class = exact.test.color_classes.as_ref().unwrap()[i];
            assert_eq!(
                image_color(exact.test.image(i)),
                PALETTE[usize::from(class)]
            );
        }
    }

    #[test]
    fn invalid_variance_is_rejected() {
        let m = synthetic(10);
        for v in [-0.01, f64::NAN, f64::INFINITY] {
            assert!(generate(&m, v, 0).is_err(), "σ² = {v}");
        }
    }
}
