//! The real MNIST, fetched into the user's cache on first use (included with `#[path]` by the
//! tests that train or generate on it).

use lntl::data::cache::cache_dir;
use lntl::data::fetch::{FetchRequest, fetch};
use lntl::data::mnist::{DigitSet, Mnist};

/// MNIST from the cache, fetched and verified if missing.
pub fn real_mnist() -> Mnist {
    let request = FetchRequest {
        cache: cache_dir(None),
        set: DigitSet::Mnist,
        from: None,
        force: false,
    };
    fetch(&request, &|line| eprintln!("{line}"))
        .expect("MNIST must be fetchable (run `lntl data fetch`)")
}
