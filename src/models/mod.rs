//! The paper's networks (SPEC.md §2) built from engine layers.

pub mod color_heads;
pub mod convnet;
pub mod pytorch_layout;
