//! Colored-MNIST in memory: color images with labels, plus how each image was colored.

use crate::colored::jitter::JitterRule;
use crate::data::mnist::PIXELS;

/// Bytes in one 28×28 RGB image (height × width × channel).
pub const COLOR_IMAGE_BYTES: usize = PIXELS * 3;

/// One split of Colored-MNIST.
#[derive(Debug, Clone, PartialEq)]
pub struct ColoredSplit {
    /// Images, N×28×28×3 bytes (HWC, as the authors' `.npy` files).
    pub images: Vec<u8>,
    /// Digit class of each image.
    pub labels: Vec<u8>,
    /// The class whose mean color painted each image (equal to the label in training). Unknown
    /// (`None`) for datasets read from the authors' files, which do not record it.
    pub color_classes: Option<Vec<u8>>,
}

impl ColoredSplit {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split is empty.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A copy of the first `n` images (all of them if there are fewer).
    pub fn first(&self, n: usize) -> ColoredSplit {
        self.slice(0..n.min(self.len()))
    }

    /// A copy of the images in `range`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> ColoredSplit {
        ColoredSplit {
            images: self.images[range.start * COLOR_IMAGE_BYTES..range.end * COLOR_IMAGE_BYTES]
                .to_vec(),
            labels: self.labels[range.clone()].to_vec(),
            color_classes: self.color_classes.as_ref().map(|c| c[range].to_vec()),
        }
    }

    /// The bytes of image `i` (28×28×3).
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * COLOR_IMAGE_BYTES..(i + 1) * COLOR_IMAGE_BYTES]
    }
}

/// A Colored-MNIST dataset for one σ².
#[derive(Debug, Clone, PartialEq)]
pub struct ColoredMnist {
    /// The color jitter variance σ² (in the `[0, 1]` color scale).
    pub variance: f64,
    /// The generator seed, when known.
    pub seed: Option<u64>,
    /// How jittered channels were kept in [0, 1], when known (the authors' files do not say).
    pub jitter: Option<JitterRule>,
    /// Training split: each digit in its own class's color.
    pub train: ColoredSplit,
    /// Test split: each digit in a random class's color.
    pub test: ColoredSplit,
    /// The plain MNIST test digits, 10000×28×28 (the authors' `test_gray`).
    pub test_gray: Vec<u8>,
}

impl ColoredMnist {
    /// The plain test digits as a split: each gray value on all three channels (white digits,
    /// with MNIST's anti-aliased edges, on black), the test labels, no color classes.
    pub fn plain_test(&self) -> ColoredSplit {
        ColoredSplit {
            images: self.test_gray.iter().flat_map(|&g| [g; 3]).collect(),
            labels: self.test.labels.clone(),
            color_classes: None,
        }
    }
}

/// σ² as it appears in file names: three decimals as the authors wrote them, or the shortest
/// exact form when three decimals would lose precision.
pub fn variance_tag(variance: f64) -> String {
    let short = format!("{variance:.3}");
    if short.parse::<f64>() == Ok(variance) {
        short
    } else {
        format!("{variance}")
    }
}

/// Parses σ² for a run: a finite number in (0, 1].
pub fn parse_variance(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|e| format!("'{text}' is not a number ({e})"))?;
    if v.is_finite() && v > 0.0 && v <= 1.0 {
        Ok(v)
    } else {
        Err(format!("σ² must be in (0, 1], got {text}"))
    }
}

/// The authors' file name for σ²: `mnist_10color_jitter_var_{σ²:.3f}.npy`.
pub fn original_file_name(variance: f64) -> String {
    format!("mnist_10color_jitter_var_{}.npy", variance_tag(variance))
}

/// Our file name for (σ², seed, jitter rule).
pub fn file_name(variance: f64, seed: u64, jitter: JitterRule) -> String {
    format!(
        "colored_mnist_var_{}_seed_{seed}_{}.safetensors",
        variance_tag(variance),
        jitter.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            original_file_name(0.02),
            "mnist_10color_jitter_var_0.020.npy"
        );
        assert_eq!(
            file_name(0.045, 3, JitterRule::Reflect),
            "colored_mnist_var_0.045_seed_3_reflect.safetensors"
        );
        assert_eq!(
            file_name(0.02, 0, JitterRule::Clip),
            "colored_mnist_var_0.020_seed_0_clip.safetensors"
        );
        assert_eq!(variance_tag(0.0225), "0.0225");
        assert_eq!(variance_tag(0.0), "0.000");
    }

    #[test]
    fn plain_test_digits_are_gray_on_every_channel() {
        let split = |labels: Vec<u8>| ColoredSplit {
            images: vec![9; labels.len() * COLOR_IMAGE_BYTES],
            labels,
            color_classes: Some(vec![0, 1]),
        };
        let mut test_gray = vec![0u8; 2 * 784];
        test_gray[5] = 200;
        test_gray[784] = 17;
        let data = ColoredMnist {
            variance: 0.02,
            seed: Some(0),
            jitter: Some(JitterRule::Reflect),
            train: split(vec![3, 4]),
            test: split(vec![7, 2]),
            test_gray,
        };
        let plain = data.plain_test();
        assert_eq!(plain.labels, vec![7, 2]);
        assert_eq!(plain.color_classes, None);
        assert_eq!(plain.images.len(), 2 * COLOR_IMAGE_BYTES);
        assert_eq!(plain.image(0)[15..18], [200, 200, 200]);
        assert_eq!(plain.image(1)[..3], [17, 17, 17]);
        assert_eq!(plain.images.iter().filter(|&&v| v != 0).count(), 6);
    }
}
