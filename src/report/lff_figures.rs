//! LfF's report figures: per bias-conflicting fraction, every method's unbiased and
//! bias-conflicting test accuracy per epoch (lowest seed), read from the runs' `metrics.jsonl`,
//! as `lff_curves_ratio_<r>.png`.

use crate::plot::curves::{Panel, Series, write_curves};
use crate::plot::method_color;
use crate::report::lff_table::LffReport;
use crate::train::metrics_log::epoch_records;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Writes one figure per ratio of `report`, whose cells were read from `files`; returns them.
pub fn write_lff_curves(report: &LffReport, files: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    let mut ratios: Vec<f64> = report.cells.iter().map(|c| c.conflict_ratio).collect();
    ratios.sort_by(f64::total_cmp);
    ratios.dedup();
    let mut written = Vec::new();
    for ratio in ratios {
        // Each method's lowest seed, in the table's row order.
        let mut chosen: Vec<(usize, u64)> = Vec::new();
        for group in report.groups.iter().filter(|g| g.conflict_ratio == ratio) {
            let seed = group.seeds[0];
            if let Some(i) = report.cells.iter().position(|c| {
                c.conflict_ratio == ratio && c.method == group.method && c.seed == seed
            }) {
                chosen.push((i, seed));
            }
        }
        let mut unbiased = Vec::new();
        let mut conflicting = Vec::new();
        for (i, seed) in chosen {
            let metrics = files[i].with_file_name("metrics.jsonl");
            let records = epoch_records(&metrics)?;
            let column = |key: &str| records.iter().map(|r| r[key].as_f64()).collect();
            let method = &report.cells[i].method;
            let series = |values| Series {
                name: format!("{method} (seed {seed})"),
                values,
                color: method_color(method),
                dashed: false,
            };
            unbiased.push(series(column("unbiased_accuracy")));
            conflicting.push(series(column("conflicting_accuracy")));
        }
        let panel = |title: &str, series| Panel {
            title: title.into(),
            y_label: "accuracy".into(),
            series,
            y_range: Some((0.0, 1.0)),
            reference: None,
        };
        let png = out.join(format!("lff_curves_ratio_{ratio}.png"));
        write_curves(
            &png,
            &format!(
                "LfF's Colored-MNIST, {} % bias-conflicting: test accuracy per epoch",
                ratio * 100.0
            ),
            &[
                panel("unbiased (mean of the 100 groups)", unbiased),
                panel("bias-conflicting groups", conflicting),
            ],
        )?;
        written.push(png);
    }
    Ok(written)
}
