//! The confusion matrix as CSV and as a PNG in the spirit of the authors' README figure: rows are
//! true digits, columns predicted digits, each cell shaded by the fraction of its row, with the
//! class colors shown as swatches along the top and the left.

use crate::colored::palette::PALETTE;
use crate::colored::preview::write_png;
use crate::data::mnist::CLASSES;
use crate::util::atomic::write_bytes_atomic;
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// Pixels per cell.
const CELL: usize = 28;
/// Width of the class-color swatches.
const SWATCH: usize = 14;
/// Gap between swatches and matrix.
const GAP: usize = 4;

/// `true\predicted,0,…,9` then one row per true class.
pub fn confusion_csv(confusion: &[Vec<u32>]) -> String {
    let mut out = String::from("true\\predicted");
    for k in 0..CLASSES {
        let _ = write!(out, ",{k}");
    }
    out.push('\n');
    for (k, row) in confusion.iter().enumerate() {
        let _ = write!(out, "{k}");
        for v in row {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}

/// Renders the matrix; returns (width, height, RGB pixels).
pub fn render_confusion(confusion: &[Vec<u32>]) -> (usize, usize, Vec<u8>) {
    let offset = SWATCH + GAP;
    let side = offset + CLASSES * CELL;
    let mut rgb = vec![255u8; side * side * 3];
    let mut fill = |x0: usize, y0: usize, w: usize, h: usize, color: [u8; 3]| {
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                rgb[(y * side + x) * 3..][..3].copy_from_slice(&color);
            }
        }
    };
    for k in 0..CLASSES {
        fill(offset + k * CELL + 1, 0, CELL - 2, SWATCH, PALETTE[k]);
        fill(0, offset + k * CELL + 1, SWATCH, CELL - 2, PALETTE[k]);
    }
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<u32>().max(1) as f32;
        for (p, &count) in row.iter().enumerate() {
            // White (0) to dark blue (1) by the fraction of the row.
            let f = count as f32 / total;
            let shade = |full: f32| (255.0 - f * (255.0 - full)).round() as u8;
            fill(
                offset + p * CELL,
                offset + t * CELL,
                CELL - 1,
                CELL - 1,
                [shade(8.0), shade(48.0), shade(107.0)],
            );
        }
    }
    (side, side, rgb)
}

/// Writes `confusion.csv` and `confusion.png` into `dir`.
pub fn write_confusion(confusion: &[Vec<u32>], dir: &Path) -> Result<()> {
    write_bytes_atomic(
        &dir.join("confusion.csv"),
        confusion_csv(confusion).as_bytes(),
    )?;
    let (w, h, rgb) = render_confusion(confusion);
    write_png(&dir.join("confusion.png"), w, h, &rgb)
}
