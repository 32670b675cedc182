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

/// A file in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Whether lntl generated it (a Colored-MNIST dataset, rebuilt on demand) rather than
    /// fetched it.
    pub generated: bool,
}

/// Every file under `cache`, in path order (none if the cache does not exist).
pub fn cache_files(cache: &Path) -> std::io::Result<Vec<CacheFile>> {
    let generated_dir = colored_dir(cache);
    let mut files = Vec::new();
    let mut pending = vec![cache.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.push(CacheFile {
                    generated: entry.path().starts_with(&generated_dir),
                    path: entry.path(),
                    bytes: meta.len(),
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
