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
