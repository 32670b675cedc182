//! Colored-MNIST: the biased benchmark built from MNIST (docs/SPEC.md §1).

pub mod bias_labels;
pub mod dataset;
pub mod generate;
pub mod jitter;
pub mod locate;
pub mod normalize;
pub mod original_npy;
pub mod palette;
pub mod preview;
pub mod stats;
pub mod store;
