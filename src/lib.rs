//! `lntl`: "Learning Not to Learn" (Kim et al., CVPR 2019) on Colored-MNIST, in Rust.
//!
//! The crate is layered; lower layers never import higher ones:
//! [`util`] → [`data`] (sources and formats) → [`colored`] (LNTL's Colored-MNIST) and its sibling
//! [`lff_colored`] (LfF's) → [`engine`] (layers,
//! SGD) → [`models`] (f, g, the color heads) → [`methods`] (one iteration of each method) →
//! [`plot`] (figures) → [`train`] (runs, protocols, evaluation) → [`sweep`] (the σ² grid) →
//! [`report`] (the table) → [`bench`](mod@bench), [`cli`]. `docs/ARCHITECTURE.md` follows one batch through
//! them.

pub mod bench;
pub mod cli;
pub mod colored;
pub mod data;
pub mod engine;
pub mod lff_colored;
pub mod methods;
pub mod models;
pub mod plot;
pub mod report;
pub mod sweep;
pub mod train;
pub mod util;
