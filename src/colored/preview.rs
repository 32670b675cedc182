//! A PNG contact sheet that shows the bias at a glance: one row per class, the first training
//! digits of that class on the left (all in the class color), test digits on the right (random
//! colors).

use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::data::mnist::{CLASSES, SIDE};
use crate::util::atomic::write_atomic;
use anyhow::Result;
use std::path::Path;

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

/// Writes an RGB image as PNG (atomic).
pub fn write_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<()> {
    write_atomic(path, |w| {
        let mut encoder = png::Encoder::new(w, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header()?;
        writer.write_image_data(rgb)?;
        writer.finish()?;
        Ok(())
    })
}

/// Renders the preview of `data` and writes it to `path`.
pub fn write_preview(data: &ColoredMnist, per_class: usize, path: &Path) -> Result<()> {
    let (w, h, rgb) = render(data, per_class);
    write_png(path, w, h, &rgb)
}
