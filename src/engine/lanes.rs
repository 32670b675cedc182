//! The SIMD widths the engine's hand-vectorized loops are written for, in one place, and loads
//! of short runs of f32 (a channel group, a row of logits) into one vector.
//!
//! The loops use `wide`'s portable vector types, which compile to AVX-512 registers where the
//! CPU has them and to pairs of AVX2 registers where it does not.

use wide::f32x8;

/// f32 values in one [`f32x8`] (an AVX2 register).
pub const LANES_8: usize = 8;

/// f32 values in one `wide::f32x16` (an AVX-512 register): the channel groups of the Winograd
/// transforms, max pooling and the channel maps.
pub const LANES_16: usize = 16;

/// The first `len` (at most [`LANES_8`]) values of `src` as one vector, zeros after them: a
/// single load when `len` is the full width.
#[inline(always)]
pub fn load_f32x8(src: &[f32], len: usize) -> f32x8 {
    if len == LANES_8 {
        f32x8::new(src[..LANES_8].try_into().expect("a whole vector"))
    } else {
        let mut values = [0.0; LANES_8];
        values[..len].copy_from_slice(&src[..len]);
        f32x8::new(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_whole_and_partial_runs() {
        let src: Vec<f32> = (1..=10).map(|v| v as f32).collect();
        assert_eq!(
            load_f32x8(&src, 8).to_array(),
            [1., 2., 3., 4., 5., 6., 7., 8.]
        );
        assert_eq!(
            load_f32x8(&src[7..], 3).to_array(),
            [8., 9., 10., 0., 0., 0., 0., 0.]
        );
    }
}
