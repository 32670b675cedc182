//! Per-class color statistics of a generated set, to check it against the palette and σ².

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::CLASSES;
use serde::Serialize;

/// Color statistics of the digits painted with one class's mean color, in the [0,1] scale.
#[derive(Debug, Clone, Serialize)]
pub struct ClassColorStats {
    /// Class whose mean color was used.
    pub class: usize,
    /// Number of images.
    pub images: usize,
    /// Mean of the per-image color, per channel.
    pub mean: [f64; 3],
    /// Standard deviation of the per-image color, per channel.
    pub std: [f64; 3],
}

/// The digit color of an image: the brightest pixel's color. Foreground pixels all share one
/// color, and it is the brightest by sum unless every channel was clipped to 0.
pub fn image_color(image: &[u8]) -> [u8; 3] {
    image
        .chunks_exact(3)
        .max_by_key(|p| u32::from(p[0]) + u32::from(p[1]) + u32::from(p[2]))
        .map(|p| [p[0], p[1], p[2]])
        .unwrap_or([0; 3])
}

/// Per-class color mean and standard deviation, grouping images by the class whose color
/// painted them (the label when that is not recorded).
pub fn class_color_stats(split: &ColoredSplit) -> Vec<ClassColorStats> {
    let classes = split.color_classes.as_ref().unwrap_or(&split.labels);
    let mut sum = [[0f64; 3]; CLASSES];
    let mut sum_sq = [[0f64; 3]; CLASSES];
    let mut count = [0usize; CLASSES];
    for (i, &class) in classes.iter().enumerate() {
        let k = usize::from(class);
        let color = image_color(split.image(i));
        count[k] += 1;
        for c in 0..3 {
            let v = f64::from(color[c]) / 255.0;
            sum[k][c] += v;
            sum_sq[k][c] += v * v;
        }
    }
    (0..CLASSES)
        .map(|k| {
            let n = count[k].max(1) as f64;
            let mean = sum[k].map(|s| s / n);
            let std =
                std::array::from_fn(|c| (sum_sq[k][c] / n - mean[c] * mean[c]).max(0.0).sqrt());
            ClassColorStats {
                class: k,
                images: count[k],
                mean,
                std,
            }
        })
        .collect()
}

/// Mean and standard deviation of `clip(mu + sigma·z, 0, 1)` for z ~ N(0, 1): what a channel of
/// the jittered colors should show. Computed by the trapezoid rule over ±8σ.
pub fn clipped_normal_moments(mu: f64, sigma: f64) -> (f64, f64) {
    if sigma == 0.0 {
        return (mu.clamp(0.0, 1.0), 0.0);
    }
    const STEPS: usize = 4000;
    let (lo, hi) = (-8.0, 8.0);
    let h = (hi - lo) / STEPS as f64;
    let (mut m1, mut m2) = (0.0, 0.0);
    for i in 0..=STEPS {
        let z: f64 = lo + i as f64 * h;
        let weight = if i == 0 || i == STEPS { 0.5 } else { 1.0 };
        let density = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let v = (mu + sigma * z).clamp(0.0, 1.0);
        m1 += weight * h * density * v;
        m2 += weight * h * density * v * v;
    }
    (m1, (m2 - m1 * m1).max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipped_moments() {
        let (m, s) = clipped_normal_moments(0.5, 0.1);
        assert!((m - 0.5).abs() < 1e-6 && (s - 0.1).abs() < 1e-4);
        // Half the mass clipped to 0: mean σ/√(2π), std σ·√(1/2 − 1/(2π)).
        let (m, s) = clipped_normal_moments(0.0, 0.2);
        assert!((m - 0.2 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-5);
        let want = 0.2 * (0.5 - 1.0 / (2.0 * std::f64::consts::PI)).sqrt();
        assert!((s - want).abs() < 1e-5);
    }
}
