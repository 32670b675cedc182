//! The MNIST digits in memory: images as raw bytes, labels 0..9, in the original order.

use crate::util::digest::sha256_hex;
use crate::util::tensor_file::TensorFile;
use anyhow::{Result, ensure};
use std::path::Path;

/// Side of an MNIST image in pixels.
pub const SIDE: usize = 28;
/// Pixels in an MNIST image.
pub const PIXELS: usize = SIDE * SIDE;
/// Number of classes.
pub const CLASSES: usize = 10;
/// Training digits in MNIST.
pub const TRAIN_LEN: usize = 60_000;
/// Test digits in MNIST.
pub const TEST_LEN: usize = 10_000;

/// One split: `len()` gray images of 28×28 bytes and their labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Digits {
    /// Row-major pixels, image after image.
    pub images: Vec<u8>,
    /// Class of each image, 0..9.
    pub labels: Vec<u8>,
}

impl Digits {
    /// Number of digits.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no digits.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Checks sizes and label range; `what` names the source in the message.
    pub fn validate(&self, what: &str) -> Result<()> {
        ensure!(
            self.images.len() == self.labels.len() * PIXELS,
            "{what}: {} image bytes for {} labels (expected {} per image)",
            self.images.len(),
            self.labels.len(),
            PIXELS
        );
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|(_, l)| usize::from(**l) >= CLASSES)
        {
            anyhow::bail!("{what}: label {l} at index {i} is outside 0..9");
        }
        Ok(())
    }

    /// The pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }
}

/// Which digit set: MNIST itself or Fashion-MNIST (same shapes and format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DigitSet {
    /// LeCun et al.'s handwritten digits.
    Mnist,
    /// Zalando's Fashion-MNIST.
    FashionMnist,
}

impl DigitSet {
    /// Directory name under the cache, and the name used in messages.
    pub fn name(self) -> &'static str {
        match self {
            DigitSet::Mnist => "mnist",
            DigitSet::FashionMnist => "fashion-mnist",
        }
    }

    /// SHA-256 of the decoded content, which any correct source reproduces.
    pub fn content_digests(self) -> ContentDigests {
        match self {
            DigitSet::Mnist => MNIST_DIGESTS,
            DigitSet::FashionMnist => FASHION_MNIST_DIGESTS,
        }
    }
}

/// SHA-256 of the four decoded arrays (raw bytes, MNIST order).
#[derive(Debug, Clone, Copy)]
pub struct ContentDigests {
    /// Training images (60000×28×28).
    pub train_images: &'static str,
    /// Training labels (60000).
    pub train_labels: &'static str,
    /// Test images (10000×28×28).
    pub test_images: &'static str,
    /// Test labels (10000).
    pub test_labels: &'static str,
}

/// MNIST's pinned content digests (docs/SPEC.md §4).
pub const MNIST_DIGESTS: ContentDigests = ContentDigests {
    train_images: "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    train_labels: "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    test_images: "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    test_labels: "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
};

/// Fashion-MNIST's content digests, computed from the IDX files of Debian's
/// `dataset-fashion-mnist` package.
pub const FASHION_MNIST_DIGESTS: ContentDigests = ContentDigests {
    train_images: "2e487a6c89124f78f2d7521542223cafe96f7123c3ca13d447772ac6ecbb3012",
    train_labels: "657fbd221bfc9f4198cc14b5619cc33ec57c58dd0e47af4d99d6650759e869a7",
    test_images: "c867c93ff95360594e8ec3287995350b824dd110b11595c0e13d5423f621867a",
    test_labels: "3d0e6c6ea990b53b6f8f500a41cac93881d981b315f84578b7d915342ade01e9",
};

/// The two splits of a digit set.
#[derive(Debug, Clone, PartialEq)]
pub struct Mnist {
    /// 60,000 training digits.
    pub train: Digits,
    /// 10,000 test digits.
    pub test: Digits,
}

const CACHE_KIND: &str = "lntl-digits";
const CACHE_VERSION: u32 = 1;

impl Mnist {
    /// Checks shapes, label ranges and the content digests of `set`; `what` names the source.
    pub fn verify(&self, set: DigitSet, what: &str) -> Result<()> {
        self.train.validate(&format!("{what} (train)"))?;
        self.test.validate(&format!("{what} (test)"))?;
        ensure!(
            self.train.len() == TRAIN_LEN && self.test.len() == TEST_LEN,
            "{what}: {} training and {} test digits, expected {TRAIN_LEN} and {TEST_LEN}",
            self.train.len(),
            self.test.len()
        );
        let want = set.content_digests();
        let checks = [
            ("training images", &self.train.images, want.train_images),
            ("training labels", &self.train.labels, want.train_labels),
            ("test images", &self.test.images, want.test_images),
            ("test labels", &self.test.labels, want.test_labels),
        ];
        for (part, bytes, expected) in checks {
            let actual = sha256_hex(bytes);
            ensure!(
                actual == expected,
                "{what}: SHA-256 of the {} {part} is {actual}, expected {expected}",
                set.name()
            );
        }
        Ok(())
    }

    /// Stores the digits in the cache format (atomic write).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut file = TensorFile::new(CACHE_KIND, CACHE_VERSION);
        let n = self.train.len();
        let m = self.test.len();
        file.put_u8("train_images", &[n, SIDE, SIDE], self.train.images.clone());
        file.put_u8("train_labels", &[n], self.train.labels.clone());
        file.put_u8("test_images", &[m, SIDE, SIDE], self.test.images.clone());
        file.put_u8("test_labels", &[m], self.test.labels.clone());
        file.write(path)
    }

    /// Loads digits stored by [`Mnist::save`] and verifies them against `set`'s digests.
    pub fn load(path: &Path, set: DigitSet) -> Result<Mnist> {
        let mut file = TensorFile::read(path, CACHE_KIND, CACHE_VERSION)?;
        let mnist = Mnist {
            train: Digits {
                images: file.take_u8("train_images", &[TRAIN_LEN, SIDE, SIDE])?,
                labels: file.take_u8("train_labels", &[TRAIN_LEN])?,
            },
            test: Digits {
                images: file.take_u8("test_images", &[TEST_LEN, SIDE, SIDE])?,
                labels: file.take_u8("test_labels", &[TEST_LEN])?,
            },
        };
        mnist.verify(set, &path.display().to_string())?;
        Ok(mnist)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_catches_bad_labels_and_sizes() {
        let d = Digits {
            images: vec![0; PIXELS * 2],
            labels: vec![3, 10],
        };
        let msg = format!("{:#}", d.validate("file.idx").unwrap_err());
        assert!(
            msg.contains("file.idx") && msg.contains("label 10"),
            "{msg}"
        );
        let d = Digits {
            images: vec![0; PIXELS],
            labels: vec![3, 1],
        };
        assert!(d.validate("x").is_err());
    }

    #[test]
    fn wrong_content_fails_verification() {
        let m = Mnist {
            train: Digits {
                images: vec![0; TRAIN_LEN * PIXELS],
                labels: vec![0; TRAIN_LEN],
            },
            test: Digits {
                images: vec![0; TEST_LEN * PIXELS],
                labels: vec![0; TEST_LEN],
            },
        };
        let msg = format!("{:#}", m.verify(DigitSet::Mnist, "src").unwrap_err());
        assert!(
            msg.contains("SHA-256") && msg.contains("training images"),
            "{msg}"
        );
    }
}
