//! Per-class color statistics of a generated set, to check it against the palette and σ².

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::CLASSES;
use serde::Serialize;

/// Color statistics of the digits painted with one class's mean color, in the `[0, 1]` scale.
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
