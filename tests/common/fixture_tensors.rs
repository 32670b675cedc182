//! The float32 tensors of a safetensors fixture, for the tests that hold the engine to PyTorch
//! (included with `#[path]` by the tests that use it).

use safetensors::SafeTensors;

/// Tensor `name` of `file` as f32 values (little-endian).
pub fn floats(file: &SafeTensors, name: &str) -> Vec<f32> {
    file.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
