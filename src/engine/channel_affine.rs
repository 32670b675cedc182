//! A per-channel affine map with an optional ReLU on channels-last rows,
//! `y = max(0, scale_c·x + shift_c)`: a batch norm (with the ReLU after it) once its statistics
//! are known. A convolution can read its input through one ([`crate::engine::conv2d`]), forming
//! the mapped values a block of images at a time, in cache, so that the mapped tensor is never
//! written out whole and read back.

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
        let c = self.channels();
        let (scale, shift) = (&self.scale[..c], &self.shift[..c]);
        for (dst, src) in dst.chunks_exact_mut(c).zip(src.chunks_exact(c)) {
            for (((y, &x), &a), &b) in dst.iter_mut().zip(src).zip(scale).zip(shift) {
                let v = x * a + b;
                *y = if self.relu { v.max(0.0) } else { v };
            }
        }
    }
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
}
