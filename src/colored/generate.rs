//! The Colored-MNIST protocol (docs/SPEC.md §1): paint each digit's foreground (gray > 128) in one
//! jittered color, `c = J(mean/255 + N(0, σ²·I₃))`, stored as `round(255·c)`, where J brings
//! each channel back into [0, 1] by reflection (default) or clipping ([`JitterRule`]). Training
//! digits take their own class's mean color; test digits a uniformly random class's.

use crate::colored::dataset::{COLOR_IMAGE_BYTES, ColoredMnist, ColoredSplit};
use crate::colored::jitter::JitterRule;
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
/// splits and variances draw independent colors. The jitter rule is not part of the key: both
/// rules map the same normal draws, so two datasets that differ only in the rule differ only
/// where a channel left [0, 1].
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

/// The jitter of one dataset: σ and the rule that keeps channels in [0, 1].
#[derive(Debug, Clone, Copy)]
struct Jitter {
    sigma: f64,
    rule: JitterRule,
}

/// One jittered color: `round(255 · J(mean/255 + σ·z))` per channel, z ~ N(0, 1).
fn jittered_color(mean: [u8; 3], jitter: Jitter, rng: &mut ChaCha8Rng) -> [u8; 3] {
    mean.map(|m| {
        let z: f64 = rng.sample(StandardNormal);
        let c = jitter.rule.apply(f64::from(m) / 255.0 + jitter.sigma * z);
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
    jitter: Jitter,
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
                jittered_color(PALETTE[usize::from(class)], jitter, &mut rng),
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

/// Training digits held out for validation, by default.
pub const VALIDATION_IMAGES: usize = 10_000;

/// The validation split: the last `count` digits of `train` recolored as the test set is (each
/// in a uniformly random class's jittered color, from a stream of its own), so that a protocol
/// can be tuned on unbiased digits without looking at the test set. The foreground is every
/// pixel that is not black, which is the digit's mask unless its color rounded to black.
pub fn validation_split(
    train: &ColoredSplit,
    count: usize,
    variance: f64,
    seed: u64,
    rule: JitterRule,
) -> ColoredSplit {
    let count = count.min(train.len());
    let mut split = train.slice(train.len() - count..train.len());
    let jitter = Jitter {
        sigma: variance.sqrt(),
        rule,
    };
    let mut rng = stream(seed, variance, "validation");
    let mut classes = Vec::with_capacity(count);
    for image in split.images.chunks_exact_mut(COLOR_IMAGE_BYTES) {
        let class = rng.random_range(0..CLASSES as u8);
        let color = jittered_color(PALETTE[usize::from(class)], jitter, &mut rng);
        for rgb in image.chunks_exact_mut(3) {
            if rgb != [0, 0, 0] {
                rgb.copy_from_slice(&color);
            }
        }
        classes.push(class);
    }
    split.color_classes = Some(classes);
    split
}

/// Builds Colored-MNIST with jitter variance `variance` (σ², ≥ 0) and rule `rule` from `mnist`,
/// deterministically for a given (σ², seed, rule).
pub fn generate(mnist: &Mnist, variance: f64, seed: u64, rule: JitterRule) -> Result<ColoredMnist> {
    ensure!(
        variance.is_finite() && variance >= 0.0,
        "the color variance σ² must be a finite number ≥ 0, got {variance}"
    );
    let jitter = Jitter {
        sigma: variance.sqrt(),
        rule,
    };
    Ok(ColoredMnist {
        variance,
        seed: Some(seed),
        jitter: Some(rule),
        train: color_split(
            &mnist.train,
            jitter,
            ColorChoice::OwnClass,
            stream(seed, variance, "train"),
        ),
        test: color_split(
            &mnist.test,
            jitter,
            ColorChoice::RandomClass,
            stream(seed, variance, "test"),
        ),
        test_gray: mnist.test.images.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colored::stats::{class_color_stats, image_color};

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
        let a = generate(&m, 0.02, 1, JitterRule::Reflect).unwrap();
        assert_eq!(a, generate(&m, 0.02, 1, JitterRule::Reflect).unwrap());
        assert_ne!(
            a.train.images,
            generate(&m, 0.02, 2, JitterRule::Reflect)
                .unwrap()
                .train
                .images
        );
        assert_ne!(
            a.train.images,
            generate(&m, 0.025, 1, JitterRule::Reflect)
                .unwrap()
                .train
                .images
        );
    }

    #[test]
    fn mask_threshold_is_strictly_above_128() {
        let data = generate(&synthetic(50), 0.0, 0, JitterRule::Reflect).unwrap();
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
        // the 0..255 scale, moves the std far outside the tolerance; so does the wrong rule at
        // the bounds (class 1's red, mean 0, has mean σ/√(2π) clipped and σ·√(2/π) reflected).
        let variance = 0.01;
        let sigma: f64 = 0.1;
        for rule in [JitterRule::Reflect, JitterRule::Clip] {
            let data = generate(&synthetic(20_000), variance, 7, rule).unwrap();
            for s in class_color_stats(&data.train) {
                for c in 0..3 {
                    let (mean, std) = rule.moments(f64::from(PALETTE[s.class][c]) / 255.0, sigma);
                    assert!(
                        (s.mean[c] - mean).abs() < 0.01,
                        "{rule:?} class {} ch {c}: mean {} vs {mean}",
                        s.class,
                        s.mean[c]
                    );
                    if std > 0.05 {
                        assert!(
                            (s.std[c] / std - 1.0).abs() < 0.08,
                            "{rule:?} class {} ch {c}: std {} vs {std}",
                            s.class,
                            s.std[c]
                        );
                    }
                }
            }
        }
    }

    /// The first ten training images of the authors' released σ² = 0.020 file (their colors, as
    /// the TensorFlow port's dataset notebook shows them), by label.
    const RELEASED_SAMPLES: [(usize, [u8; 3]); 10] = [
        (5, [167, 38, 210]),
        (0, [220, 27, 72]),
        (4, [219, 131, 23]),
        (1, [23, 108, 117]),
        (9, [79, 30, 54]),
        (2, [199, 245, 52]),
        (1, [42, 117, 198]),
        (3, [49, 150, 175]),
        (1, [22, 128, 163]),
        (4, [244, 107, 71]),
    ];

    #[test]
    fn released_samples_fit_reflection_not_clipping() {
        // Every channel whose class mean is 0 is positive in the released samples (six of
        // them); clipping makes such a channel exactly 0 half of the time.
        let zero_mean: Vec<u8> = RELEASED_SAMPLES
            .iter()
            .flat_map(|&(class, color)| {
                (0..3)
                    .filter(move |&c| PALETTE[class][c] == 0)
                    .map(move |c| color[c])
            })
            .collect();
        assert_eq!(zero_mean.len(), 6);
        assert!(zero_mean.iter().all(|&v| v > 0), "{zero_mean:?}");
        // Our generator at σ² = 0.020: the fraction of such channels at exactly 0 is about 1/2
        // under clipping and about 1 % under reflection, and the reflected mean of class 1's red
        // (σ·√(2/π) ≈ 0.113) matches the three released 1s (23, 42, 22 → 0.114).
        let zero_fraction = |rule: JitterRule| {
            let data = generate(&synthetic(10_000), 0.020, 0, rule).unwrap();
            let reds: Vec<u8> = (0..data.train.len())
                .filter(|&i| data.train.labels[i] == 1)
                .map(|i| data.train.image(i)[3])
                .collect();
            let zeros = reds.iter().filter(|&&r| r == 0).count() as f64 / reds.len() as f64;
            let mean = reds.iter().map(|&r| f64::from(r) / 255.0).sum::<f64>() / reds.len() as f64;
            (zeros, mean)
        };
        let (clip_zeros, clip_mean) = zero_fraction(JitterRule::Clip);
        let (reflect_zeros, reflect_mean) = zero_fraction(JitterRule::Reflect);
        assert!((clip_zeros - 0.5).abs() < 0.05, "clip: {clip_zeros}");
        // Reflected, only |ε| < 0.5/255 rounds to 0: P(|z| < 0.0139) ≈ 1.1 %.
        assert!(reflect_zeros < 0.03, "reflect: {reflect_zeros}");
        let released_mean = (23.0 + 42.0 + 22.0) / 3.0 / 255.0;
        assert!(
            (reflect_mean - released_mean).abs() < 0.01,
            "{reflect_mean} vs {released_mean}"
        );
        assert!(
            (clip_mean - released_mean).abs() > 0.04,
            "{clip_mean} vs {released_mean}"
        );
    }

    #[test]
    fn rules_differ_only_where_a_channel_left_the_unit_interval() {
        let m = synthetic(2_000);
        let reflect = generate(&m, 0.02, 5, JitterRule::Reflect).unwrap();
        let clip = generate(&m, 0.02, 5, JitterRule::Clip).unwrap();
        let mut differing = 0;
        for i in 0..reflect.train.len() {
            let (r, c) = (
                image_color(reflect.train.image(i)),
                image_color(clip.train.image(i)),
            );
            for ch in 0..3 {
                if r[ch] != c[ch] {
                    differing += 1;
                    assert!(c[ch] == 0 || c[ch] == 255, "image {i}: {r:?} vs {c:?}");
                }
            }
        }
        assert!(differing > 0);
    }

    #[test]
    fn training_colors_match_labels_and_test_colors_are_random() {
        let data = generate(&synthetic(20_000), 0.02, 3, JitterRule::Reflect).unwrap();
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
        let exact = generate(&synthetic(100), 0.0, 3, JitterRule::Reflect).unwrap();
        for i in 0..100 {
            let class = exact.test.color_classes.as_ref().unwrap()[i];
            assert_eq!(
                image_color(exact.test.image(i)),
                PALETTE[usize::from(class)]
            );
        }
    }

    #[test]
    fn validation_digits_are_the_last_ones_recolored_at_random() {
        let data = generate(&synthetic(20_000), 0.02, 3, JitterRule::Reflect).unwrap();
        let val = validation_split(&data.train, 5_000, 0.02, 3, JitterRule::Reflect);
        assert_eq!(val.len(), 5_000);
        assert_eq!(val.labels, data.train.labels[15_000..]);
        let classes = val.color_classes.as_ref().unwrap();
        let agree = classes
            .iter()
            .zip(&val.labels)
            .filter(|(c, l)| c == l)
            .count();
        assert!(
            (350..650).contains(&agree),
            "color class = label in {agree} of 5000"
        );
        for i in 0..val.len() {
            let (old, new) = (data.train.image(15_000 + i), val.image(i));
            // Background stays black, the digit takes one color near its color class's mean.
            assert_eq!(&new[..3], &[0, 0, 0]);
            assert!(new[3..6] != [0, 0, 0] || old[3..6] == [0, 0, 0]);
            assert!(new[6..].chunks(3).all(|p| p == &new[3..6]));
        }
        let exact = generate(&synthetic(100), 0.0, 3, JitterRule::Reflect).unwrap();
        let val = validation_split(&exact.train, 50, 0.0, 3, JitterRule::Reflect);
        for i in 0..50 {
            let class = val.color_classes.as_ref().unwrap()[i];
            assert_eq!(image_color(val.image(i)), PALETTE[usize::from(class)]);
        }
    }

    #[test]
    fn invalid_variance_is_rejected() {
        let m = synthetic(10);
        for v in [-0.01, f64::NAN, f64::INFINITY] {
            assert!(generate(&m, v, 0, JitterRule::Reflect).is_err(), "σ² = {v}");
        }
    }
}
