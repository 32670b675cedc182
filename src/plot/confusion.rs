//! Confusion matrices as the authors' README shows them: rows are true digits, columns
//! predicted digits, the class mean colors along the top (labeled "class color": the color each digit has in training); each cell
//! holds its count and is shaded by the fraction of its row.

use crate::colored::palette::PALETTE;
use crate::data::mnist::CLASSES;
use crate::plot::{FONT, drawing, write_figure};
use anyhow::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Side of one matrix panel, pixels.
const PANEL: u32 = 560;

/// White (0) to dark blue (1).
fn shade(fraction: f64) -> RGBColor {
    let f = fraction.clamp(0.0, 1.0);
    let mix = |full: f64| (255.0 - f * (255.0 - full)).round() as u8;
    RGBColor(mix(8.0), mix(48.0), mix(107.0))
}

/// Draws one matrix with its title into `area`.
pub fn draw_confusion(
    area: &DrawingArea<BitMapBackend, Shift>,
    confusion: &[Vec<u32>],
    title: &str,
) -> Result<()> {
    let n = CLASSES as i32;
    let area = drawing(area.titled(title, (FONT, 17)))?;
    let area = &area;
    let mut chart = drawing(
        ChartBuilder::on(area)
            .margin(12)
            .margin_top(24)
            .x_label_area_size(44)
            .y_label_area_size(76)
            .build_cartesian_2d(0..n, n..0),
    )?;
    drawing(
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(CLASSES)
            .y_labels(CLASSES)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|_| String::new())
            .x_desc("predicted digit")
            .y_desc("true digit")
            .axis_desc_style((FONT, 16))
            .draw(),
    )?;
    // Chart coordinates → pixels of `area` (the chart reports them in the whole figure's).
    let (base_x, base_y) = area.get_base_pixel();
    let pixel = |c: &(i32, i32)| {
        let (x, y) = chart.backend_coord(c);
        (x - base_x, y - base_y)
    };
    for (t, row) in confusion.iter().enumerate() {
        let total = row.iter().sum::<u32>().max(1);
        for (p, &count) in row.iter().enumerate() {
            let fraction = f64::from(count) / f64::from(total);
            let (x, y) = (p as i32, t as i32);
            drawing(area.draw(&Rectangle::new(
                [pixel(&(x, y)), pixel(&(x + 1, y + 1))],
                shade(fraction).filled(),
            )))?;
            let ink = if fraction > 0.5 { WHITE } else { BLACK };
            let style = TextStyle::from((FONT, 13).into_font()).color(&ink).pos(
                plotters::style::text_anchor::Pos::new(
                    plotters::style::text_anchor::HPos::Center,
                    plotters::style::text_anchor::VPos::Center,
                ),
            );
            let centre = pixel(&(x, y));
            let next = pixel(&(x + 1, y + 1));
            let middle = ((centre.0 + next.0) / 2, (centre.1 + next.1) / 2);
            drawing(area.draw(&Text::new(count.to_string(), middle, style)))?;
        }
    }
    // The strip above the columns: each digit's training color (the bias).
    let (strip_left, strip_top) = pixel(&(0, 0));
    let strip_label =
        TextStyle::from((FONT, 11).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Right,
            plotters::style::text_anchor::VPos::Center,
        ));
    drawing(area.draw(&Text::new(
        "class color",
        (strip_left - 6, strip_top - 9),
        strip_label,
    )))?;
    // Digit labels on both axes, and the class colors above the columns.
    for k in 0..n {
        let (left, top) = pixel(&(k, 0));
        let (right, bottom) = pixel(&(k + 1, n));
        let column_mid = (left + right) / 2;
        let label =
            TextStyle::from((FONT, 15).into_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Top,
            ));
        drawing(area.draw(&Text::new(k.to_string(), (column_mid, bottom + 4), label)))?;
        let [r, g, b] = PALETTE[k as usize];
        drawing(area.draw(&Rectangle::new(
            [(left + 2, top - 14), (right - 2, top - 3)],
            RGBColor(r, g, b).filled(),
        )))?;
        let (_, row_top) = pixel(&(0, k));
        let (_, row_bottom) = pixel(&(0, k + 1));
        let row_label =
            TextStyle::from((FONT, 15).into_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Right,
                plotters::style::text_anchor::VPos::Center,
            ));
        drawing(area.draw(&Text::new(
            k.to_string(),
            (left.min(pixel(&(0, 0)).0) - 6, (row_top + row_bottom) / 2),
            row_label,
        )))?;
    }
    Ok(())
}

/// Writes one titled matrix as a PNG.
pub fn write_confusion_png(path: &Path, confusion: &[Vec<u32>], title: &str) -> Result<()> {
    write_figure(path, (PANEL, PANEL), |root| {
        draw_confusion(root, confusion, title)
    })
}

/// Writes matrices side by side (e.g. baseline and LNTL) as one PNG.
pub fn write_confusion_row(path: &Path, panels: &[(String, Vec<Vec<u32>>)]) -> Result<()> {
    let width = PANEL * panels.len().max(1) as u32;
    write_figure(path, (width, PANEL), |root| {
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, (title, confusion)) in areas.iter().zip(panels) {
            draw_confusion(area, confusion, title)?;
        }
        Ok(())
    })
}
