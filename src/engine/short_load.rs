//! Loads of short runs of f32 (a channel group, a row of logits) into one SIMD vector.

use wide::f32x8;

/// Values in one [`f32x8`].
pub const LANES_8: usize = 8;

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
