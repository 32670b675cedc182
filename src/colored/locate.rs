//! Finding a Colored-MNIST dataset: an explicit file (ours or the authors' `.npy`), or the
//! cached dataset for (σ², seed), generated from cached MNIST on first use.

use crate::colored::dataset::{ColoredMnist, file_name};
use crate::colored::generate::generate;
use crate::colored::jitter::JitterRule;
use crate::colored::original_npy::read_original;
use crate::colored::store;
use crate::data::cache::colored_dir;
use crate::data::fetch::{FetchRequest, fetch};
use crate::data::mnist::DigitSet;
use anyhow::{Result, ensure};
use std::path::{Path, PathBuf};

/// Reads a dataset file, choosing the reader by extension (`.npy` = the authors' format).
pub fn read_dataset_file(path: &Path) -> Result<ColoredMnist> {
    if path.extension().is_some_and(|e| e == "npy") {
        read_original(path)
    } else {
        store::load(path)
    }
}

/// Where the dataset for (σ², seed, jitter rule) is cached.
pub fn cached_dataset_path(cache: &Path, variance: f64, seed: u64, jitter: JitterRule) -> PathBuf {
    colored_dir(cache).join(file_name(variance, seed, jitter))
}

/// Loads the cached dataset for (σ², seed, jitter rule), generating (and caching) it first if
/// it is missing.
pub fn load_or_generate(
    cache: &Path,
    variance: f64,
    seed: u64,
    jitter: JitterRule,
    log: &dyn Fn(&str),
) -> Result<ColoredMnist> {
    let path = cached_dataset_path(cache, variance, seed, jitter);
    if path.is_file() {
        let data = store::load(&path)?;
        ensure!(
            data.variance == variance && data.seed == Some(seed) && data.jitter == Some(jitter),
            "{}: holds σ² = {}, seed {:?}, jitter {:?}, not what its name says; delete it to \
             have it generated again",
            path.display(),
            data.variance,
            data.seed,
            data.jitter
        );
        return Ok(data);
    }
    let request = FetchRequest {
        cache: cache.to_path_buf(),
        set: DigitSet::Mnist,
        from: None,
        force: false,
    };
    let mnist = fetch(&request, log)?;
    let data = generate(&mnist, variance, seed, jitter)?;
    store::save(&data, &path)?;
    log(&format!("generated {}", path.display()));
    Ok(data)
}
