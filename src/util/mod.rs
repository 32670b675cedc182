//! Small helpers shared by every layer: atomic file writes and digests.

pub mod atomic;
pub mod digest;
pub mod tensor_file;
