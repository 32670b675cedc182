//! `lntl`: "Learning Not to Learn" (Kim et al., CVPR 2019) on Colored-MNIST, in Rust.
//!
//! The crate is layered; lower layers never import higher ones:
//! [`util`] → [`data`] (sources and formats) → [`colored`] (Colored-MNIST) → [`cli`].

pub mod bench;
pub mod cli;
pub mod colored;
pub mod data;
pub mod engine;
pub mod methods;
pub mod models;
pub mod plot;
pub mod report;
pub mod sweep;
pub mod train;
pub mod util;
