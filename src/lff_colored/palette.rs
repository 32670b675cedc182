//! LfF's ten mean colors and its color-noise severities.

/// The mean color of each color index, RGB in [0, 1]: the float32 values of LfF's
/// `data/resource/colors.th` (a (10, 3, 1, 1) tensor), given by their bits so that they are
/// exactly LfF's. Digit c's aligned color is index c.
pub const MEAN_COLORS: [[f32; 3]; 10] = [
    bits([0x3f7b_d29b, 0x3ea0_027e, 0x3e2c_9f04]),
    bits([0x3f7d_935a, 0x3f6a_651b, 0x3eb3_f968]),
    bits([0x3f2c_475e, 0x3eec_116e, 0x3f14_6e4f]),
    bits([0x3f48_8333, 0x3f54_e0d9, 0x3f19_f0b9]),
    bits([0x3db4_41a0, 0x3f47_289b, 0x3f7b_57c1]),
    bits([0x3ea4_8dac, 0x3f76_07ac, 0x3ee4_9514]),
    bits([0x3cc9_a740, 0x3e71_4e5c, 0x3f42_37f4]),
    bits([0x3f0e_24aa, 0x3dd0_0940, 0x3f43_02e9]),
    bits([0x3e54_b564, 0x3ec9_308c, 0x3c99_35c0]),
    bits([0x3f55_6a96, 0x3e4f_4460, 0x3e88_acc4]),
];

const fn bits(rgb: [u32; 3]) -> [f32; 3] {
    [
        f32::from_bits(rgb[0]),
        f32::from_bits(rgb[1]),
        f32::from_bits(rgb[2]),
    ]
}

/// The standard deviation of the per-image color noise at severity 1..=5.
pub const SEVERITY_STD: [f32; 5] = [0.05, 0.02, 0.01, 0.005, 0.002];

/// The severity every paper after LfF uses.
pub const USUAL_SEVERITY: u8 = 4;

/// The noise standard deviation of `severity`, or `None` outside 1..=5.
pub fn severity_std(severity: u8) -> Option<f32> {
    SEVERITY_STD
        .get(usize::from(severity).checked_sub(1)?)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The decoded values docs/LFF.md lists (six decimals), and their 8-bit versions.
    #[test]
    fn palette_matches_the_documented_values() {
        let documented: [[f64; 3]; 10] = [
            [0.983682, 0.312519, 0.168575],
            [0.990530, 0.915605, 0.351512],
            [0.672964, 0.461070, 0.579808],
            [0.783252, 0.831556, 0.601329],
            [0.088016, 0.777963, 0.981808],
            [0.321393, 0.961055, 0.446450],
            [0.024616, 0.235650, 0.758666],
            [0.555247, 0.101580, 0.761763],
            [0.207723, 0.392949, 0.018702],
            [0.833658, 0.202409, 0.266943],
        ];
        let bytes: [[u8; 3]; 10] = [
            [251, 80, 43],
            [253, 233, 90],
            [172, 118, 148],
            [200, 212, 153],
            [22, 198, 250],
            [82, 245, 114],
            [6, 60, 193],
            [142, 26, 194],
            [53, 100, 5],
            [213, 52, 68],
        ];
        for k in 0..10 {
            for c in 0..3 {
                let v = f64::from(MEAN_COLORS[k][c]);
                assert!(
                    (v - documented[k][c]).abs() < 5e-7,
                    "color {k}, channel {c}: {v}"
                );
                assert_eq!(
                    (v * 255.0).round() as u8,
                    bytes[k][c],
                    "color {k}, channel {c}"
                );
            }
        }
    }

    #[test]
    fn severities() {
        assert_eq!(severity_std(4), Some(0.005));
        assert_eq!(severity_std(0), None);
        assert_eq!(severity_std(6), None);
    }
}
