//! The data preview (`lntl data preview`): the contact sheet of `colored::preview` under a
//! header that names its halves.

use crate::colored::dataset::ColoredSplit;
use crate::colored::preview::render;
use crate::plot::{FONT, drawing, register_fonts, write_png};
use anyhow::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// Height of the header band, pixels.
const HEADER: usize = 30;

/// Renders the preview of a training and a test split and writes it to `path`, the halves
/// titled `titles`.
pub fn write_preview(
    train: &ColoredSplit,
    test: &ColoredSplit,
    titles: [&str; 2],
    per_class: usize,
    path: &Path,
) -> Result<()> {
    register_fonts();
    let (width, sheet_height, sheet) = render(train, test, per_class);
    let height = sheet_height + HEADER;
    let mut rgb = vec![255u8; width * HEADER * 3];
    rgb.extend_from_slice(&sheet);
    {
        let root =
            BitMapBackend::with_buffer(&mut rgb, (width as u32, height as u32)).into_drawing_area();
        let style =
            TextStyle::from((FONT, 15).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let half = width / 2;
        for (x, text) in [(half / 2, titles[0]), (half + half / 2, titles[1])] {
            drawing(root.draw(&Text::new(
                text,
                (x as i32, HEADER as i32 / 2),
                style.clone(),
            )))?;
        }
        drawing(root.present())?;
    }
    write_png(path, width, height, &rgb)
}
