//! Input normalization: `x = (rgb/255 − mean) / std` per channel (the authors' CIFAR constants).

/// Per-channel mean.
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
/// Per-channel standard deviation.
pub const STD: [f32; 3] = [0.2023, 0.1994, 0.2010];

/// Normalizes one HWC byte image into `out` (same HWC layout).
pub fn normalize_into(image: &[u8], out: &mut [f32]) {
    for (px, o) in image.chunks_exact(3).zip(out.chunks_exact_mut(3)) {
        for c in 0..3 {
            o[c] = (f32::from(px[c]) / 255.0 - MEAN[c]) / STD[c];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula() {
        let mut out = [0f32; 6];
        normalize_into(&[0, 255, 128, 255, 0, 0], &mut out);
        assert!((out[0] - (-0.4914 / 0.2023)).abs() < 1e-6);
        assert!((out[1] - (1.0 - 0.4822) / 0.1994).abs() < 1e-6);
        assert!((out[2] - (128.0 / 255.0 - 0.4465) / 0.2010).abs() < 1e-6);
        assert!((out[3] - (1.0 - 0.4914) / 0.2023).abs() < 1e-6);
    }
}
