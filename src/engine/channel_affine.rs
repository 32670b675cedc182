//! A per-channel affine map with an optional ReLU on channels-last rows,
//! `y = max(0, scale_c·x + shift_c)`: a batch norm (with the ReLU after it) once its statistics
//! are known. A convolution can read its input through one ([`crate::engine::conv::MappedConv2d`]), forming
//! the mapped values a block of images at a time, in cache, so that the mapped tensor is never
//! written out whole and read back.

use crate::engine::lanes::LANES_16;

/// `y = scale_c·x + shift_c` per channel c, then `max(0, y)` when `relu`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelAffine {
    /// Per-channel factor.
    pub scale: Vec<f32>,
    /// Per-channel offset.
    pub shift: Vec<f32>,
    /// Whether a ReLU follows.
    pub relu: bool,
}

impl ChannelAffine {
    /// Channels.
    pub fn channels(&self) -> usize {
        self.scale.len()
    }

    /// Maps the channels-last rows of `src` into `dst`, of the same length.
    pub fn apply(&self, src: &[f32], dst: &mut [f32]) {
        assert_eq!(src.len(), dst.len(), "mapped rows' lengths");
        // The coefficients repeated over a run of whole rows that fills whole SIMD vectors, so
        // that rows narrower than a vector (the input's 3 channels) vectorize too: 16 rows of 3.
        let c = self.channels();
        let run = c * (LANES_16 / gcd(c, LANES_16));
        let repeat = |v: &[f32]| -> Vec<f32> { v.iter().cycle().take(run).copied().collect() };
        let (scale, shift) = (repeat(&self.scale), repeat(&self.shift));
        // A last, shorter run still holds whole rows, so it starts at channel 0 too.
        for (dst, src) in dst.chunks_mut(run).zip(src.chunks(run)) {
            for (((y, &x), &a), &b) in dst.iter_mut().zip(src).zip(&scale).zip(&shift) {
                let v = x * a + b;
                *y = if self.relu { v.max(0.0) } else { v };
            }
        }
    }
}

/// Greatest common divisor (Euclid).
fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_each_channel_and_clips_below_zero() {
        let map = ChannelAffine {
            scale: vec![2.0, -1.0],
            shift: vec![0.5, 1.0],
            relu: true,
        };
        let src = [1.0, 3.0, -1.0, 0.5];
        let mut dst = [9.0; 4];
        map.apply(&src, &mut dst);
        assert_eq!(dst, [2.5, 0.0, 0.0, 0.5]);
        let linear = ChannelAffine { relu: false, ..map };
        linear.apply(&src, &mut dst);
        assert_eq!(dst, [2.5, -2.0, -1.5, 0.5]);
    }

    /// Rows of 3 channels are mapped in runs of 16 rows; a batch that ends in a partial run
    /// (here 16 + 5 rows) keeps every value on its own channel's coefficients.
    #[test]
    fn narrow_rows_keep_their_channels_across_runs() {
        let map = ChannelAffine {
            scale: vec![1.0, 10.0, 100.0],
            shift: vec![0.0, 1.0, 2.0],
            relu: false,
        };
        let rows = 21;
        let src: Vec<f32> = (0..rows * 3).map(|i| (i / 3) as f32).collect();
        let mut dst = vec![0.0; src.len()];
        map.apply(&src, &mut dst);
        for (i, &y) in dst.iter().enumerate() {
            let (row, ch) = ((i / 3) as f32, i % 3);
            assert_eq!(
                y,
                row * map.scale[ch] + map.shift[ch],
                "row {row} channel {ch}"
            );
        }
    }
}
