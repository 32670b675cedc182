//! Data sources and formats: MNIST's files, pickles, `.npy` and PyTorch files, fetching and
//! caching.

pub mod cache;
pub mod fetch;
pub mod gzip;
pub mod idx;
pub mod mnist;
pub mod numpy;
pub mod pickle;
pub mod sources;
pub mod torch_file;
