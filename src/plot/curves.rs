//! Training curves: panels of per-epoch series (losses, accuracies, color leakage) side by
//! side, one figure per run (`curves.png`).

use crate::plot::{FONT, drawing, write_figure};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// One panel: a title, a y-axis label, and named series (index 0 = epoch 1; `None` = not
/// measured in that epoch).
#[derive(Debug, Clone)]
pub struct Panel {
    /// Panel title.
    pub title: String,
    /// What the y axis measures.
    pub y_label: String,
    /// The series: name and per-epoch values.
    pub series: Vec<(String, Vec<Option<f64>>)>,
    /// Fixed y range, or `None` to fit the data.
    pub y_range: Option<(f64, f64)>,
}

/// Line colors, in series order.
pub const SERIES_COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(127, 127, 127),
];

fn fitted_range(panel: &Panel) -> (f64, f64) {
    if let Some(range) = panel.y_range {
        return range;
    }
    let values = panel
        .series
        .iter()
        .flat_map(|(_, v)| v.iter().flatten().copied());
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

/// Writes the panels side by side, under `title`, to `path`.
pub fn write_curves(path: &Path, title: &str, panels: &[Panel]) -> Result<()> {
    let width = 480 * panels.len().max(1) as u32;
    write_figure(path, (width, 420), |root| {
        let root = drawing(root.titled(title, (FONT, 22)))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, panel) in areas.iter().zip(panels) {
            let epochs = panel
                .series
                .iter()
                .map(|(_, v)| v.len())
                .max()
                .unwrap_or(1)
                .max(1);
            let (lo, hi) = fitted_range(panel);
            let mut chart = drawing(
                ChartBuilder::on(area)
                    .caption(&panel.title, (FONT, 17))
                    .margin(10)
                    .x_label_area_size(40)
                    .y_label_area_size(52)
                    .build_cartesian_2d(1f64..epochs.max(2) as f64, lo..hi),
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
            for ((name, values), color) in panel.series.iter().zip(SERIES_COLORS.iter().cycle()) {
                let points: Vec<(f64, f64)> = values
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| ((i + 1) as f64, v)))
                    .collect();
                let style = color.stroke_width(2);
                drawing(chart.draw_series(LineSeries::new(points, style)))?
                    .label(name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
            }
            if !panel.series.is_empty() {
                drawing(
                    chart
                        .configure_series_labels()
                        .label_font((FONT, 13))
                        .background_style(WHITE.mix(0.85))
                        .border_style(BLACK.mix(0.3))
                        .position(SeriesLabelPosition::LowerRight)
                        .draw(),
                )?;
            }
        }
        Ok(())
    })
}
