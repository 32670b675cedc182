//! Helpers shared by the integration tests that train: a small Colored-MNIST file cut from the
//! real one, so that runs and their per-epoch evaluations take seconds.

use lntl::colored::dataset::ColoredMnist;
use lntl::colored::jitter::JitterRule;
use lntl::colored::store;
use lntl::data::cache::cache_dir;
use lntl::data::mnist::SIDE;
use lntl::train::config::DatasetChoice;
use lntl::train::run::load_dataset;
use std::path::{Path, PathBuf};

/// Writes the first `train` training and `test` test images of Colored-MNIST (σ² = 0.020,
/// seed 0, generated from the cached MNIST) into `dir` as a dataset file, and returns its path.
pub fn small_dataset(dir: &Path, train: usize, test: usize) -> PathBuf {
    let choice = DatasetChoice::Generated {
        variance: 0.020,
        seed: 0,
        jitter: JitterRule::Reflect,
    };
    let data = load_dataset(&choice, &cache_dir(None), &|_: &str| {}).unwrap();
    let small = ColoredMnist {
        train: data.train.first(train),
        test: data.test.first(test),
        test_gray: data.test_gray[..test * SIDE * SIDE].to_vec(),
        ..data
    };
    let path = dir.join("small.safetensors");
    store::save(&small, &path).unwrap();
    path
}
