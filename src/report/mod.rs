//! `lntl report`: the σ² table of finished runs as Markdown and JSON, the accuracy-versus-σ²
//! plot with the paper's numbers, and the baseline's and LNTL's confusion matrices side by side.

pub mod paper;
pub mod table;

use crate::colored::dataset::variance_tag;
use crate::plot::confusion::write_confusion_row;
use crate::plot::variance::{MethodLine, write_accuracy_vs_variance};
use crate::report::paper::paper_row;
use crate::report::table::{Report, markdown};
use crate::train::confusion::read_confusion_csv;
use crate::util::atomic::write_bytes_atomic;
use anyhow::Result;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Writes `report.md`, `report.json`, `accuracy_vs_variance.png` and, for each σ² with both,
/// `confusion_var_<σ²>.png` (baseline and LNTL, lowest seed) into `out`; returns the files.
pub fn write_report(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    let mut written = Vec::new();
    let md = out.join("report.md");
    write_bytes_atomic(&md, markdown(report).as_bytes())?;
    written.push(md);
    let json = out.join("report.json");
    write_bytes_atomic(
        &json,
        (serde_json::to_string_pretty(report)? + "\n").as_bytes(),
    )?;
    written.push(json);
    let protocols: BTreeSet<Option<String>> =
        report.groups.iter().map(|g| g.protocol.clone()).collect();
    for protocol in protocols {
        let groups: Vec<_> = report
            .groups
            .iter()
            .filter(|g| g.protocol == protocol)
            .collect();
        let methods: Vec<&str> = {
            let mut seen = Vec::new();
            for g in &groups {
                if !seen.contains(&g.method.as_str()) {
                    seen.push(g.method.as_str());
                }
            }
            seen
        };
        let lines: Vec<MethodLine> = methods
            .iter()
            .map(|&m| MethodLine {
                name: m.to_string(),
                ours: groups
                    .iter()
                    .filter(|g| g.method == m)
                    .map(|g| (g.variance, g.mean, g.std))
                    .collect(),
                paper: paper_row(m),
            })
            .collect();
        let name = protocol.as_deref().unwrap_or("none");
        let png = if report.groups.iter().all(|g| g.protocol == protocol) {
            out.join("accuracy_vs_variance.png")
        } else {
            out.join(format!("accuracy_vs_variance_{name}.png"))
        };
        write_accuracy_vs_variance(
            &png,
            &format!("Colored-MNIST, protocol {name}: test accuracy against color variance"),
            &lines,
        )?;
        written.push(png);
    }
    written.extend(write_confusion_pairs(report, out)?);
    Ok(written)
}

/// Baseline and LNTL confusion matrices side by side per σ² (lowest seed of each).
fn write_confusion_pairs(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let variances: BTreeSet<u64> = report.cells.iter().map(|c| c.variance.to_bits()).collect();
    for bits in variances {
        let variance = f64::from_bits(bits);
        let pick = |method: &str| {
            report
                .cells
                .iter()
                .zip(&report.files)
                .filter(|(c, _)| c.method == method && c.variance == variance)
                .min_by_key(|(c, _)| c.seed)
        };
        let (Some(base), Some(lntl)) = (pick("baseline"), pick("lntl")) else {
            continue;
        };
        let mut panels = Vec::new();
        for (result, file) in [base, lntl] {
            let csv = file.with_file_name("confusion.csv");
            panels.push((
                format!(
                    "{} (seed {}): accuracy {:.4}",
                    result.method, result.seed, result.test_accuracy
                ),
                read_confusion_csv(&csv)?,
            ));
        }
        let png = out.join(format!("confusion_var_{}.png", variance_tag(variance)));
        write_confusion_row(&png, &panels)?;
        written.push(png);
    }
    Ok(written)
}
