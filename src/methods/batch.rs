//! A training or test batch: normalized images, digit labels, and bias labels.

use crate::colored::bias_labels::{BIAS_POSITIONS, bias_labels_into};
use crate::colored::dataset::{COLOR_IMAGE_BYTES, ColoredSplit};
use crate::colored::normalize::normalize_into;
use crate::data::mnist::SIDE;
use crate::engine::tensor::Tensor;
use rayon::prelude::*;

/// How images enter the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ImageMode {
    /// The colored images as they are.
    Color,
    /// Gray-scale versions (ITU-R 601 luma, as PIL's `convert('L')`), replicated on the three
    /// channels so the network is unchanged: the paper's "Gray" row.
    Gray,
}

/// One batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Normalized images, N×28×28×3.
    pub x: Tensor,
    /// Digit labels.
    pub labels: Vec<u8>,
    /// Bias labels, `[n][channel][14·14]`, 255 = no label.
    pub bias: Vec<u8>,
}

/// PIL's integer luma: `L = (R·299 + G·587 + B·114) / 1000`, rounded.
fn luma(rgb: &[u8]) -> u8 {
    let l = u32::from(rgb[0]) * 299 + u32::from(rgb[1]) * 587 + u32::from(rgb[2]) * 114;
    ((l + 500) / 1000) as u8
}

impl Batch {
    /// Assembles the images `indices` of `split`.
    pub fn from_split(split: &ColoredSplit, indices: &[usize], mode: ImageMode) -> Batch {
        let n = indices.len();
        let mut x = Tensor::zeros([n, SIDE, SIDE, 3]);
        let mut bias = vec![0u8; n * 3 * BIAS_POSITIONS];
        x.data
            .par_chunks_mut(COLOR_IMAGE_BYTES)
            .zip(bias.par_chunks_mut(3 * BIAS_POSITIONS))
            .zip(indices.par_iter())
            .for_each(|((x, b), &i)| {
                let image = split.image(i);
                bias_labels_into(image, b);
                match mode {
                    ImageMode::Color => normalize_into(image, x),
                    ImageMode::Gray => {
                        let gray: Vec<u8> =
                            image.chunks_exact(3).flat_map(|p| [luma(p); 3]).collect();
                        normalize_into(&gray, x);
                    }
                }
            });
        Batch {
            x,
            labels: indices.iter().map(|&i| split.labels[i]).collect(),
            bias,
        }
    }
}

/// For other modules' tests: `n` colored images of uniform random bytes (from `seed`) labeled
/// 0, 1, …, 9, 0, … in order, as one batch.
#[cfg(test)]
pub(crate) fn random_batch(seed: u64, n: usize) -> Batch {
    use rand::{RngExt, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let split = ColoredSplit {
        images: (0..n * COLOR_IMAGE_BYTES).map(|_| rng.random()).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        color_classes: None,
    };
    let indices: Vec<usize> = (0..n).collect();
    Batch::from_split(&split, &indices, ImageMode::Color)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colored::bias_labels::{BIAS_SIDE, IGNORE};
    use crate::colored::normalize::{MEAN, STD};

    /// Two images, each black but for one pixel at (1, 1) (the first bias position) and one at
    /// (2, 2) (never sampled for bias labels).
    fn split() -> ColoredSplit {
        let mut images = vec![0u8; 2 * COLOR_IMAGE_BYTES];
        let pixel =
            |image: usize, y: usize, x: usize| image * COLOR_IMAGE_BYTES + (y * SIDE + x) * 3;
        images[pixel(0, 1, 1)..][..3].copy_from_slice(&[200, 100, 50]);
        images[pixel(1, 1, 1)..][..3].copy_from_slice(&[10, 20, 250]);
        images[pixel(1, 2, 2)..][..3].copy_from_slice(&[255, 255, 255]);
        ColoredSplit {
            images,
            labels: vec![4, 9],
            color_classes: None,
        }
    }

    /// `(v/255 − mean_c)/std_c`, the normalization by hand.
    fn normalized(v: f32, c: usize) -> f32 {
        (v / 255.0 - MEAN[c]) / STD[c]
    }

    fn value(batch: &Batch, n: usize, y: usize, x: usize, c: usize) -> f32 {
        batch.x.data[((n * SIDE + y) * SIDE + x) * 3 + c]
    }

    #[test]
    fn color_batches_hold_the_indexed_images_their_labels_and_bias_labels() {
        let batch = Batch::from_split(&split(), &[1, 0], ImageMode::Color);
        assert_eq!(batch.x.dims, [2, SIDE, SIDE, 3]);
        assert_eq!(batch.labels, vec![9, 4], "labels follow the indices");
        for (c, v) in [10.0, 20.0, 250.0].into_iter().enumerate() {
            assert!((value(&batch, 0, 1, 1, c) - normalized(v, c)).abs() < 1e-6);
        }
        for (c, v) in [200.0, 100.0, 50.0].into_iter().enumerate() {
            assert!((value(&batch, 1, 1, 1, c) - normalized(v, c)).abs() < 1e-6);
            assert!((value(&batch, 1, 0, 0, c) - normalized(0.0, c)).abs() < 1e-6);
        }
        // Bias labels `[n][channel][14·14]`: value/32 at (1, 1), nothing on the black pixels.
        let bias = |n: usize, c: usize, i: usize, j: usize| {
            batch.bias[(n * 3 + c) * BIAS_POSITIONS + i * BIAS_SIDE + j]
        };
        assert_eq!(
            [bias(0, 0, 0, 0), bias(0, 1, 0, 0), bias(0, 2, 0, 0)],
            [0, 0, 7]
        );
        assert_eq!(
            [bias(1, 0, 0, 0), bias(1, 1, 0, 0), bias(1, 2, 0, 0)],
            [6, 3, 1]
        );
        assert_eq!(bias(0, 0, 1, 1), IGNORE);
        assert_eq!(batch.bias.iter().filter(|&&b| b != IGNORE).count(), 6);
    }

    #[test]
    fn gray_batches_hold_pil_luma_on_every_channel() {
        let batch = Batch::from_split(&split(), &[0, 1], ImageMode::Gray);
        // PIL's L = (299·R + 587·G + 114·B)/1000, rounded: (59800 + 58700 + 5700)/1000 = 124.2
        // → 124, and (2990 + 11740 + 28500)/1000 = 43.23 → 43; white stays 255.
        for (n, y, x, luma) in [(0, 1, 1, 124.0), (1, 1, 1, 43.0), (1, 2, 2, 255.0)] {
            for c in 0..3 {
                let got = value(&batch, n, y, x, c);
                assert!(
                    (got - normalized(luma, c)).abs() < 1e-6,
                    "image {n} channel {c}"
                );
            }
        }
        // The bias labels still come from the colors (Gray never uses them).
        assert_eq!(batch.bias[2 * BIAS_POSITIONS], 1, "blue 50 of image 0");
    }
}
