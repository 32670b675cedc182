//! The paper's networks (docs/SPEC.md §2) built from engine layers.

pub mod color_heads;
pub mod convnet;
pub mod mlp;
pub mod pytorch_export;
pub mod pytorch_import;
pub mod pytorch_layout;
