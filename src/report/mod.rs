//! `lntl report`: the σ² table of finished runs as Markdown and JSON, the accuracy-versus-σ²
//! plot with the paper's numbers, the baseline's and LNTL's confusion matrices side by side, and
//! the runs' per-epoch curves.

pub mod grouping;
pub mod headline;
pub mod lff_figures;
pub mod lff_table;
pub mod paper;
pub mod table;

use crate::colored::dataset::variance_tag;
use crate::plot::confusion::write_confusion_row;
use crate::plot::curves::{Panel, Series, write_curves};
use crate::plot::method_color;
use crate::plot::variance::{MethodLine, write_accuracy_vs_variance};
use crate::report::paper::paper_row;
use crate::report::table::{Group, Report, markdown};
use crate::train::confusion::read_confusion_csv;
use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Writes `report.md`, `report.json`, `accuracy_vs_variance.png` and, per σ²,
/// `confusion_var_<σ²>.png` (baseline and LNTL, lowest seed, when both exist) and
/// `curves_var_<σ²>.png` (every grid's and method's per-epoch curves) into `out`, and removes
/// such figures of an earlier report that this one does not write again; returns the files.
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
        // Each method on what the paper measured it on (Gray on the plain test digits).
        let lines: Vec<MethodLine> = methods
            .iter()
            .map(|&m| {
                let of_method: Vec<&&Group> = groups.iter().filter(|g| g.method == m).collect();
                let on_plain = of_method.iter().any(|g| g.paper_on_plain_digits());
                MethodLine {
                    name: if on_plain {
                        format!("{m} on plain digits")
                    } else {
                        m.to_string()
                    },
                    ours: of_method
                        .iter()
                        .map(|g| {
                            let (mean, std) = g.compared_with_paper();
                            (g.variance, mean, std)
                        })
                        .collect(),
                    paper: paper_row(m),
                    color: method_color(m),
                }
            })
            .collect();
        let name = protocol.as_deref().unwrap_or("none");
        let png = if report.groups.iter().all(|g| g.protocol == protocol) {
            out.join("accuracy_vs_variance.png")
        } else {
            out.join(format!("accuracy_vs_variance_{}.png", file_name_part(name)))
        };
        write_accuracy_vs_variance(
            &png,
            &format!("Colored-MNIST, protocol {name}: test accuracy against color variance"),
            &lines,
        )?;
        written.push(png);
    }
    written.extend(write_confusion_pairs(report, out)?);
    written.extend(write_curve_comparisons(report, out)?);
    remove_stale_figures(out, &written)?;
    Ok(written)
}

/// `label` as part of a file name: its runs of ASCII letters and digits joined by `_`
/// ("paper (validation)" → "paper_validation").
fn file_name_part(label: &str) -> String {
    label
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

/// The names of the figures a report writes start with one of these.
const FIGURE_PREFIXES: [&str; 3] = ["accuracy_vs_variance", "confusion_var_", "curves_var_"];

/// Removes the report figures in `out` that are not among `written`: left by an earlier
/// report, they would show cells that have since moved or gone.
fn remove_stale_figures(out: &Path, written: &[PathBuf]) -> Result<()> {
    let listing = || format!("{}: cannot list", out.display());
    for entry in std::fs::read_dir(out).with_context(listing)? {
        let path = entry.with_context(listing)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let figure = name.ends_with(".png") && FIGURE_PREFIXES.iter().any(|p| name.starts_with(p));
        if figure && !written.contains(&path) {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove the stale figure", path.display()))?;
        }
    }
    Ok(())
}

/// The name of the grid a result belongs to: the directory above its `var_σ²` directory
/// (`results/paper/var_0.020/lntl/seed_0/result.json` → `paper`).
fn grid_name(file: &Path) -> String {
    file.ancestors()
        .nth(4)
        .and_then(Path::file_name)
        .map_or_else(|| "runs".into(), |n| n.to_string_lossy().into_owned())
}

/// Per σ²: test accuracy, bias-conflicting accuracy and color leakage per epoch of every
/// (grid, method) found (lowest seed), so that runs of different grids can be compared.
fn write_curve_comparisons(report: &Report, out: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let variances: BTreeSet<u64> = report.cells.iter().map(|c| c.variance.to_bits()).collect();
    for bits in variances {
        let variance = f64::from_bits(bits);
        let mut chosen: Vec<(String, &crate::train::result::RunResult)> = Vec::new();
        for (cell, file) in report.cells.iter().zip(&report.files) {
            if cell.variance != variance {
                continue;
            }
            let label = format!("{} · {}", grid_name(file), cell.method);
            match chosen.iter_mut().find(|(l, _)| *l == label) {
                Some(entry) if entry.1.seed > cell.seed => entry.1 = cell,
                Some(_) => {}
                None => chosen.push((label, cell)),
            }
        }
        // A method's color is its own in every figure; runs of a second grid are dashed.
        let first_grid = chosen
            .first()
            .map(|(label, _)| label.split(" · ").next().unwrap_or(""));
        let series = |pick: &dyn Fn(&crate::train::result::RunResult) -> Vec<Option<f64>>| {
            chosen
                .iter()
                .map(|(label, cell)| Series {
                    name: format!("{label} (seed {})", cell.seed),
                    values: pick(cell),
                    color: method_color(&cell.method),
                    dashed: label.split(" · ").next() != first_grid,
                })
                .collect::<Vec<_>>()
        };
        let panel = |title: &str, series, reference| Panel {
            title: title.into(),
            y_label: "per epoch".into(),
            series,
            y_range: Some((0.0, 1.0)),
            reference,
        };
        let chance = chosen
            .iter()
            .find_map(|(_, c)| c.curves.color_leakage_chance)
            .map(|c| (format!("no color information (majority bin, {c:.3})"), c));
        let panels = [
            panel(
                "test accuracy",
                series(&|c| c.curves.test_accuracy.iter().map(|&v| Some(v)).collect()),
                None,
            ),
            panel(
                "bias-conflicting test accuracy",
                series(&|c| c.curves.conflicting_accuracy.clone()),
                None,
            ),
            panel(
                "color leakage",
                series(&|c| c.curves.color_leakage.clone()),
                chance,
            ),
        ];
        let png = out.join(format!("curves_var_{}.png", variance_tag(variance)));
        write_curves(
            &png,
            &format!("σ² = {}: per-epoch measurements", variance_tag(variance)),
            &panels,
        )?;
        written.push(png);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_labels_become_plain_file_name_parts() {
        assert_eq!(file_name_part("fast"), "fast");
        assert_eq!(file_name_part("paper (validation)"), "paper_validation");
        assert_eq!(
            file_name_part("no protocol (validation)"),
            "no_protocol_validation"
        );
    }
}
