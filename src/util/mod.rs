//! Small helpers shared by every layer: atomic file writes, digests and the CPU's name.

pub mod atomic;
pub mod cpu;
pub mod digest;
pub mod file_kind;
pub mod interrupt;
pub mod tensor_file;
