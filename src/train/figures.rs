//! A run's training curves as `curves.png`: the training losses (LNTL's regularizer and
//! color-head loss beside the digit loss), accuracies (train, test, bias-aligned and
//! bias-conflicting test digits) and color leakage with its no-information level, per epoch,
//! redrawn after every epoch so that a long run can be watched.

use crate::plot::curves::{Panel, SERIES_COLORS, Series, write_curves};
use crate::train::result::Curves;
use anyhow::Result;
use std::path::Path;

/// File name of the curves figure in a run directory.
pub const CURVES_FILE: &str = "curves.png";

/// Writes `run_dir/curves.png` from `curves`, titled `title`.
pub fn write_run_curves(run_dir: &Path, title: &str, curves: &Curves) -> Result<()> {
    let line = |name: &str, values: Vec<Option<f64>>, color: usize, dashed: bool| Series {
        name: name.into(),
        values,
        color: SERIES_COLORS[color],
        dashed,
    };
    let some = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let mut losses = vec![line(
        "digit classification",
        some(&curves.loss_classification),
        0,
        false,
    )];
    // LNTL's two other losses, when the run trained heads.
    if curves.loss_color.iter().any(|&v| v.is_finite() && v != 0.0) {
        losses.push(line(
            "regularizer (heads' negative entropy)",
            some(&curves.loss_regularizer),
            1,
            false,
        ));
        losses.push(line("color heads", some(&curves.loss_color), 2, false));
    }
    let mut panels = vec![
        Panel {
            title: "training losses".into(),
            y_label: "loss".into(),
            series: losses,
            y_range: None,
            reference: None,
        },
        Panel {
            title: "accuracy".into(),
            y_label: "accuracy".into(),
            series: vec![
                // Dashed: it often lies on the bias-aligned line.
                line("train", some(&curves.train_accuracy), 5, true),
                line("test", some(&curves.test_accuracy), 0, false),
                line(
                    "test, bias-aligned",
                    curves.aligned_accuracy.clone(),
                    2,
                    false,
                ),
                line(
                    "test, bias-conflicting",
                    curves.conflicting_accuracy.clone(),
                    1,
                    false,
                ),
            ],
            y_range: Some((0.0, 1.0)),
            reference: None,
        },
    ];
    if curves.color_leakage.iter().any(Option::is_some) {
        panels.push(Panel {
            title: "color leakage of the features φ".into(),
            y_label: "probe heads' per-pixel bin accuracy".into(),
            series: vec![line(
                "color leakage",
                curves.color_leakage.clone(),
                4,
                false,
            )],
            y_range: Some((0.0, 1.0)),
            reference: curves
                .color_leakage_chance
                .map(|c| (format!("no color information (majority bin, {c:.3})"), c)),
        });
    }
    write_curves(&run_dir.join(CURVES_FILE), title, &panels)
}
