//! Test accuracy against σ² for each method: our mean over seeds with ±1 standard deviation
//! error bars (solid), the paper's numbers (dashed, same color).

use crate::plot::{FONT, drawing, write_figure};
use anyhow::Result;
use plotters::prelude::*;
use std::path::Path;

/// One method's line.
#[derive(Debug, Clone)]
pub struct MethodLine {
    /// Method name.
    pub name: String,
    /// (σ², mean, std) of our runs.
    pub ours: Vec<(f64, f64, f64)>,
    /// (σ², accuracy) of the paper.
    pub paper: Vec<(f64, f64)>,
    /// The method's color ([`crate::plot::method_color`]).
    pub color: RGBColor,
}

/// Writes the plot to `path`.
pub fn write_accuracy_vs_variance(path: &Path, title: &str, lines: &[MethodLine]) -> Result<()> {
    let xs = lines.iter().flat_map(|l| {
        l.ours
            .iter()
            .map(|p| p.0)
            .chain(l.paper.iter().map(|p| p.0))
    });
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(x), hi.max(x))
    });
    let (lo, hi) = if lo > hi {
        (0.0, 0.06)
    } else {
        (lo - 0.0025, hi + 0.0025)
    };
    write_figure(path, (900, 600), |root| {
        let mut chart = drawing(
            ChartBuilder::on(root)
                .caption(title, (FONT, 22))
                .margin(14)
                .x_label_area_size(48)
                .y_label_area_size(60)
                .build_cartesian_2d(lo..hi, 0f64..1f64),
        )?;
        drawing(
            chart
                .configure_mesh()
                .x_desc("color variance σ² (smaller = stronger bias)")
                .y_desc("test accuracy (unbiased test set)")
                .x_label_formatter(&|x| format!("{x:.3}"))
                .label_style((FONT, 14))
                .axis_desc_style((FONT, 15))
                .light_line_style(WHITE.mix(0.0))
                .draw(),
        )?;
        for line in lines {
            let color = &line.color;
            let solid = color.stroke_width(2);
            let points: Vec<(f64, f64)> = line.ours.iter().map(|&(x, m, _)| (x, m)).collect();
            drawing(chart.draw_series(LineSeries::new(points.clone(), solid)))?
                .label(format!("{} (ours, mean ± std)", line.name))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], solid));
            drawing(chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled()))))?;
            drawing(chart.draw_series(line.ours.iter().map(|&(x, m, s)| {
                ErrorBar::new_vertical(x, m - s, m, m + s, color.stroke_width(1), 8)
            })))?;
            if !line.paper.is_empty() {
                let thin = color.stroke_width(1);
                drawing(chart.draw_series(DashedLineSeries::new(line.paper.clone(), 6, 4, thin)))?
                    .label(format!("{} (paper)", line.name))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], thin));
            }
        }
        drawing(
            chart
                .configure_series_labels()
                .label_font((FONT, 13))
                .background_style(WHITE.mix(0.9))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::LowerRight)
                .draw(),
        )?;
        Ok(())
    })
}
