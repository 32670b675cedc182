//! Figures people read: confusion matrices with labels and counts, training curves, and the
//! accuracy-versus-σ² plot of a sweep, drawn with plotters into an RGB buffer and written as PNG
//! atomically. Text uses DejaVu Sans, compiled in (the `dejavu` crate), so figures look the same
//! on every machine, with or without system fonts.

pub mod confusion;
pub mod curves;
pub mod preview;
pub mod variance;

use crate::util::atomic::write_atomic;
use anyhow::{Result, anyhow};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use std::path::Path;
use std::sync::Once;

/// The font family every figure uses.
pub const FONT: &str = "sans-serif";

/// Each method's color, the same in every figure.
pub fn method_color(method: &str) -> RGBColor {
    match method {
        "baseline" | "vanilla" => RGBColor(31, 119, 180),
        "gray" => RGBColor(127, 127, 127),
        "lntl" => RGBColor(214, 39, 40),
        "blindeye" => RGBColor(44, 160, 44),
        "lff" => RGBColor(255, 127, 14),
        "groupdro" => RGBColor(140, 86, 75),
        _ => RGBColor(148, 103, 189),
    }
}

pub(crate) fn register_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TrueType font compiled into the binary; registration only
        // fails on invalid font data.
        let _ = register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Draws a `width`×`height` figure with `draw` and writes it to `path` as PNG.
pub fn write_figure(
    path: &Path,
    (width, height): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    register_fonts();
    let mut rgb = vec![255u8; width as usize * height as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
        draw(&root)?;
        root.present()
            .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    }
    write_png(path, width as usize, height as usize, &rgb)
}

/// Turns a plotters error into ours.
pub fn drawing<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T> {
    result.map_err(|e| anyhow!("drawing failed: {e}"))
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
