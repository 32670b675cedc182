//! A contact sheet that shows the bias at a glance: one row per class, training digits of that
//! class on the left (LNTL's: all in the class color; LfF's: mostly), test digits on the right
//! (random colors). `plot::preview` labels the halves and writes it as a PNG.

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::{CLASSES, SIDE};

/// Scale factor of each digit in the sheet.
const SCALE: usize = 2;
/// Gap between the training and the test half, in pixels.
const GAP: usize = 12;
/// Gray of the separator and the border.
const SEPARATOR: u8 = 96;

/// `count` digits of `class`, the middles of `count` equal runs of the split's digits of that
/// class: LfF's training split gives each class its colors in runs (docs/LFF.md), so its first
/// digits would all be bias-conflicting.
fn spread_over_class(split: &ColoredSplit, class: u8, count: usize) -> Vec<usize> {
    let of_class: Vec<usize> = (0..split.len())
        .filter(|&i| split.labels[i] == class)
        .collect();
    let count = count.min(of_class.len());
    (0..count)
        .map(|k| of_class[(2 * k + 1) * of_class.len() / (2 * count)])
        .collect()
}

/// Renders `per_class` training and test digits per class into an RGB image; returns
/// (width, height, pixels).
pub fn render(
    train: &ColoredSplit,
    test: &ColoredSplit,
    per_class: usize,
) -> (usize, usize, Vec<u8>) {
    let cell = SIDE * SCALE;
    let half = per_class * cell;
    let width = 2 * half + GAP;
    let height = CLASSES * cell;
    let mut pixels = vec![0u8; width * height * 3];
    for y in 0..height {
        for x in half..half + GAP {
            pixels[(y * width + x) * 3..][..3].fill(SEPARATOR);
        }
    }
    for class in 0..CLASSES {
        for (side, split) in [train, test].into_iter().enumerate() {
            for (k, i) in spread_over_class(split, class as u8, per_class)
                .into_iter()
                .enumerate()
            {
                let image = split.image(i);
                let x0 = side * (half + GAP) + k * cell;
                let y0 = class * cell;
                for y in 0..cell {
                    for x in 0..cell {
                        let src = ((y / SCALE) * SIDE + x / SCALE) * 3;
                        let dst = ((y0 + y) * width + x0 + x) * 3;
                        pixels[dst..dst + 3].copy_from_slice(&image[src..src + 3]);
                    }
                }
            }
        }
    }
    (width, height, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class 1's four digits sit at 1, 3, 4 and 6; the middles of two runs of two are the
    /// second and the fourth. Each digit lands, scaled up, in its row and column.
    #[test]
    fn digits_are_spread_over_their_class_and_placed_by_row() {
        let labels = vec![0, 1, 0, 1, 1, 0, 1];
        let mut images = vec![0u8; labels.len() * SIDE * SIDE * 3];
        for (i, image) in images.chunks_exact_mut(SIDE * SIDE * 3).enumerate() {
            image[..3].fill(i as u8 * 10);
        }
        let split = ColoredSplit {
            images,
            labels,
            color_classes: None,
        };
        assert_eq!(spread_over_class(&split, 1, 2), [3, 6]);
        assert_eq!(spread_over_class(&split, 1, 9), [1, 3, 4, 6]);
        let (width, height, pixels) = render(&split, &split, 2);
        let cell = SIDE * SCALE;
        assert_eq!((width, height), (4 * cell + GAP, CLASSES * cell));
        let at = |x: usize, y: usize| pixels[(y * width + x) * 3];
        // Row 1, second training column: digit 6's top-left pixel, scaled ×2.
        assert_eq!(at(cell, cell), 60);
        assert_eq!(at(cell + 1, cell + 1), 60);
        // Row 0, first test column: digit 0 (value 0); the separator between the halves.
        assert_eq!(at(2 * cell + GAP, 0), 0);
        assert_eq!(at(2 * cell, 0), SEPARATOR);
    }
}
