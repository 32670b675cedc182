//! A contact sheet that shows the bias at a glance: one row per class, the first training
//! digits of that class on the left (all in the class color), test digits on the right (random
//! colors). `plot::preview` labels the halves and writes it as a PNG.

use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::data::mnist::{CLASSES, SIDE};

/// Scale factor of each digit in the sheet.
const SCALE: usize = 2;
/// Gap between the training and the test half, in pixels.
const GAP: usize = 12;
/// Gray of the separator and the border.
const SEPARATOR: u8 = 96;

fn first_of_class(split: &ColoredSplit, class: u8, count: usize) -> Vec<usize> {
    (0..split.len())
        .filter(|&i| split.labels[i] == class)
        .take(count)
        .collect()
}

/// Renders `per_class` training and test digits per class into an RGB image; returns
/// (width, height, pixels).
pub fn render(data: &ColoredMnist, per_class: usize) -> (usize, usize, Vec<u8>) {
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
        for (side, split) in [&data.train, &data.test].into_iter().enumerate() {
            for (k, i) in first_of_class(split, class as u8, per_class)
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
