//! A run's training curves as `curves.png`: classification loss, accuracies (train, test,
//! bias-aligned and bias-conflicting test digits) and color leakage per epoch, redrawn after
//! every epoch so that a long run can be watched.

use crate::plot::curves::{Panel, write_curves};
use crate::train::result::Curves;
use anyhow::Result;
use std::path::Path;

/// File name of the curves figure in a run directory.
pub const CURVES_FILE: &str = "curves.png";

/// Writes `run_dir/curves.png` from `curves`, titled `title`.
pub fn write_run_curves(run_dir: &Path, title: &str, curves: &Curves) -> Result<()> {
    let some = |v: &[f64]| v.iter().map(|&x| Some(x)).collect::<Vec<_>>();
    let mut panels = vec![
        Panel {
            title: "training loss".into(),
            y_label: "digit cross-entropy".into(),
            series: vec![("classification".into(), some(&curves.loss_classification))],
            y_range: None,
        },
        Panel {
            title: "accuracy".into(),
            y_label: "accuracy".into(),
            series: vec![
                ("train".into(), some(&curves.train_accuracy)),
                ("test".into(), some(&curves.test_accuracy)),
                ("test, bias-aligned".into(), curves.aligned_accuracy.clone()),
                (
                    "test, bias-conflicting".into(),
                    curves.conflicting_accuracy.clone(),
                ),
            ],
            y_range: Some((0.0, 1.0)),
        },
    ];
    if curves.color_leakage.iter().any(Option::is_some) {
        panels.push(Panel {
            title: "color leakage of the features φ".into(),
            y_label: "probe heads' per-pixel bin accuracy".into(),
            series: vec![("color leakage".into(), curves.color_leakage.clone())],
            y_range: Some((0.0, 1.0)),
        });
    }
    write_curves(&run_dir.join(CURVES_FILE), title, &panels)
}
