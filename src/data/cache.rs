//! Where the project keeps what it downloads and generates.
//!
//! Resolution order: the `--cache-dir` flag, then `$LNTL_HOME`, then the platform cache
//! directory (`~/.cache/lntl` on Linux).

use crate::data::mnist::DigitSet;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the cache directory.
pub const HOME_ENV: &str = "LNTL_HOME";

/// The cache directory: `flag`, else `$LNTL_HOME`, else the platform cache dir + `lntl`.
pub fn cache_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("lntl")
}

/// Where verified digits of `set` are cached.
pub fn digits_path(cache: &Path, set: DigitSet) -> PathBuf {
    cache.join(set.name()).join("digits.safetensors")
}

/// Default directory for generated Colored-MNIST datasets.
pub fn colored_dir(cache: &Path) -> PathBuf {
    cache.join("colored-mnist")
}
