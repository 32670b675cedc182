//! Bias labels: what the color heads must predict (docs/SPEC.md §1).
//!
//! The 28×28 image is reduced to 14×14 by nearest neighbour as PIL's `NEAREST` does for 28→14
//! (output (i, j) = input (2i+1, 2j+1)); each channel value is binned as `value / 32` (8 bins);
//! a value of exactly 0 carries no label ([`IGNORE`]), so background pixels are ignored.

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::SIDE;

/// Side of the bias-label map.
pub const BIAS_SIDE: usize = SIDE / 2;
/// Positions in one channel of the bias-label map.
pub const BIAS_POSITIONS: usize = BIAS_SIDE * BIAS_SIDE;
/// Color bins per channel.
pub const BIAS_BINS: usize = 8;
/// Label of a position that carries no color (ignored by the loss), as in the original code.
pub const IGNORE: u8 = 255;

/// Writes the bias labels of one 28×28×3 image into `out`, laid out `[channel][i][j]`
/// (3 × 14 × 14).
pub fn bias_labels_into(image: &[u8], out: &mut [u8]) {
    for c in 0..3 {
        for i in 0..BIAS_SIDE {
            for j in 0..BIAS_SIDE {
                let v = image[((2 * i + 1) * SIDE + 2 * j + 1) * 3 + c];
                out[c * BIAS_POSITIONS + i * BIAS_SIDE + j] = if v == 0 { IGNORE } else { v / 32 };
            }
        }
    }
}

/// The per-pixel bin accuracy of a guess that ignores the image: each channel's most frequent
/// bin over `split`'s labelled positions (Σ_c max_b count[c][b] / Σ count). Color leakage at
/// this level means the features tell nothing about color.
pub fn majority_bin_accuracy(split: &ColoredSplit) -> f64 {
    let mut counts = [[0u64; BIAS_BINS]; 3];
    let mut labels = vec![0u8; 3 * BIAS_POSITIONS];
    for i in 0..split.len() {
        bias_labels_into(split.image(i), &mut labels);
        for (c, channel) in labels.chunks_exact(BIAS_POSITIONS).enumerate() {
            for &label in channel.iter().filter(|&&l| l != IGNORE) {
                counts[c][usize::from(label)] += 1;
            }
        }
    }
    let total: u64 = counts.iter().flatten().sum();
    let best: u64 = counts
        .iter()
        .map(|c| c.iter().max().copied().unwrap_or(0))
        .sum();
    if total == 0 {
        0.0
    } else {
        best as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two images filled with (40, 200, 255) and (40, 100, 255): bins (1, 6, 7) and (1, 3, 7).
    /// Red and blue agree on all 2·196 positions, green on half: (392 + 196 + 392) / 1176.
    #[test]
    fn majority_bin_accuracy_by_hand() {
        let fill = |rgb: [u8; 3]| rgb.repeat(SIDE * SIDE);
        let split = ColoredSplit {
            images: [fill([40, 200, 255]), fill([40, 100, 255])].concat(),
            labels: vec![0, 1],
            color_classes: None,
        };
        assert_eq!(majority_bin_accuracy(&split), 980.0 / 1176.0);
    }

    #[test]
    fn hand_built_image() {
        let mut image = vec![0u8; SIDE * SIDE * 3];
        // Pixel (1,1) → bias position (0,0); pixel (3,5) → (1,2); pixel (2,2) is never sampled.
        image[(SIDE + 1) * 3..(SIDE + 1) * 3 + 3].copy_from_slice(&[255, 32, 31]);
        image[(3 * SIDE + 5) * 3..(3 * SIDE + 5) * 3 + 3].copy_from_slice(&[1, 0, 224]);
        image[(2 * SIDE + 2) * 3..(2 * SIDE + 2) * 3 + 3].copy_from_slice(&[200, 200, 200]);
        let mut out = vec![0u8; 3 * BIAS_POSITIONS];
        bias_labels_into(&image, &mut out);
        let at = |c: usize, i: usize, j: usize| out[c * BIAS_POSITIONS + i * BIAS_SIDE + j];
        assert_eq!([at(0, 0, 0), at(1, 0, 0), at(2, 0, 0)], [7, 1, 0]);
        assert_eq!([at(0, 1, 2), at(1, 1, 2), at(2, 1, 2)], [0, IGNORE, 7]);
        assert_eq!(at(0, 1, 1), IGNORE, "pixel (2,2) must not be sampled");
        let labelled = out.iter().filter(|&&v| v != IGNORE).count();
        assert_eq!(labelled, 5, "everything else is background");
    }
}
