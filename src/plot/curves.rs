//! Training curves: panels of per-epoch series (losses, accuracies, color leakage) side by
//! side, one figure per run (`curves.png`).

use crate::plot::{FONT, drawing, write_figure};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// One line of a panel: a name, per-epoch values (index 0 = epoch 1; `None` = not measured in
/// that epoch), a color and a dash.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Per-epoch values.
    pub values: Vec<Option<f64>>,
    /// Line color.
    pub color: RGBColor,
    /// Dashed instead of solid (a line that may lie on another one stays visible).
    pub dashed: bool,
}

/// One panel: a title, a y-axis label, its series and an optional horizontal reference line.
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// What the y axis measures.
    pub y_label: String,
    /// The series.
    pub series: Vec<Series>,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
    /// A labeled level drawn as a thin gray line (e.g. chance).
    pub reference: Option<(String, f64)>,
}

/// Colors for series that are not methods, in order.
pub const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

/// Gray of reference lines.
const REFERENCE: RGBColor = RGBColor(110, 110, 110);

/// Height of the legend under each panel, per entry row.
const LEGEND_ROW: u32 = 20;

fn fitted_range(panel: &Panel) -> (f64, f64) {
    if let Some(range) = panel.y_range {
        return range;
    }
    let values = panel
        .series
        .iter()
        .flat_map(|s| s.values.iter().flatten().copied());
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if lo > hi {
        (0.0, 1.0)
    } else if hi - lo < 1e-9 {
        (lo - 0.5, hi + 0.5)
    } else {
        (lo.min(0.0), hi + 0.05 * (hi - lo))
    }
}

/// Writes the panels side by side, under `title`, to `path`; each panel's legend sits under it,
/// where it covers no line.
pub fn write_curves(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let legend_rows = panels
        .iter()
        .map(|p| p.series.len() + usize::from(p.reference.is_some()))
        .max()
        .unwrap_or(0) as u32;
    let width = 480 * panels.len().max(1) as u32;
    let height = 420 + LEGEND_ROW * legend_rows + 10;
    write_figure(path, (width, height), |root| {
        let root = drawing(root.titled(title, (FONT, 22)))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.iter().zip(panels) {
            let legend_height = LEGEND_ROW * legend_rows + 10;
            let (plot_area, legend_area) =
                area.split_vertically(area.dim_in_pixel().1 - legend_height);
            let epochs = panel
                .series
                .iter()
                .map(|s| s.values.len())
                .max()
                .unwrap_or(1)
                .max(1);
            let (lo, hi) = fitted_range(panel);
            let x_range = 1f64..epochs.max(2) as f64;
            let mut chart = drawing(
                ChartBuilder::on(&plot_area)
                    .caption(&panel.title, (FONT, 17))
                    .margin(10)
                    .x_label_area_size(40)
                    .y_label_area_size(52)
                    .build_cartesian_2d(x_range.clone(), lo..hi),
            )?;
            drawing(
                chart
                    .configure_mesh()
                    .x_desc("epoch")
                    .x_labels(epochs.clamp(2, 10))
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .y_desc(&panel.y_label)
                    .label_style((FONT, 13))
                    .axis_desc_style((FONT, 14))
                    .light_line_style(WHITE.mix(0.0))
                    .draw(),
            )?;
            if let Some((_, level)) = &panel.reference {
                let points = vec![(x_range.start, *level), (x_range.end, *level)];
                drawing(chart.draw_series(DashedLineSeries::new(
                    points,
                    3,
                    3,
                    REFERENCE.stroke_width(1),
                )))?;
            }
            for series in &panel.series {
                let points: Vec<(f64, f64)> = series
                    .values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| ((i + 1) as f64, v)))
                    .collect();
                let style = series.color.stroke_width(2);
                if series.dashed {
                    drawing(chart.draw_series(DashedLineSeries::new(points, 7, 4, style)))?;
                } else {
                    drawing(chart.draw_series(LineSeries::new(points, style)))?;
                }
            }
            let mut entries: Vec<(String, ShapeStyle, bool)> = panel
                .series
                .iter()
                .map(|s| (s.name.clone(), s.color.stroke_width(2), s.dashed))
                .collect();
            if let Some((name, _)) = &panel.reference {
                entries.push((name.clone(), REFERENCE.stroke_width(1), true));
            }
            draw_legend(&legend_area, &entries)?;
        }
        Ok(())
    })
}

/// One legend entry per row: a short line in the series' style, then its name.
fn draw_legend(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    entries: &[(String, ShapeStyle, bool)],
) -> Result<()> {
    let left = 62;
    for (row, (name, style, dashed)) in entries.iter().enumerate() {
        let y = 6 + row as i32 * LEGEND_ROW as i32 + LEGEND_ROW as i32 / 2;
        if *dashed {
            for x in (left..left + 26).step_by(9) {
                drawing(area.draw(&PathElement::new(vec![(x, y), (x + 5, y)], *style)))?;
            }
        } else {
            drawing(area.draw(&PathElement::new(vec![(left, y), (left + 26, y)], *style)))?;
        }
        let text =
            TextStyle::from((FONT, 13).into_font()).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
        drawing(area.draw(&Text::new(name.clone(), (left + 34, y), text)))?;
    }
    Ok(())
}
