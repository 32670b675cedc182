//! LfF's table of a set of finished runs on its benchmark: every `result.json` whose benchmark
//! is `lff`, grouped by (conflict ratio, method) into mean ± standard deviation over seeds of
//! the final model's accuracies, beside LfF's published numbers, with the grid's cells that have
//! no result listed as missing.

use crate::lff_colored::generate::CONFLICT_RATIOS;
use crate::report::grouping::{self, group_by};
use crate::report::table::{mean_pm, mean_std, seeds_mark};
use crate::train::lff_run::LffResult;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// LfF's Table (unbiased accuracy, %, at each of [`CONFLICT_RATIOS`]: 0.5 / 1 / 2 / 5 %
/// bias-conflicting) as recalled in docs/LFF.md: not verified against the paper, and labeled so
/// wherever it is shown.
const LFF_PAPER_UNVERIFIED: [(&str, [f64; 4]); 3] = [
    ("vanilla", [35.3, 50.3, 62.3, 77.6]),
    ("groupdro", [59.7, 71.3, 76.3, 84.5]),
    ("lff", [63.4, 74.0, 80.5, 85.4]),
];

/// LfF's published unbiased accuracy (a fraction) for `method` at `conflict_ratio`, unverified.
pub fn lff_paper_unverified(method: &str, conflict_ratio: f64) -> Option<f64> {
    let column = CONFLICT_RATIOS.iter().position(|&r| r == conflict_ratio)?;
    LFF_PAPER_UNVERIFIED
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, row)| row[column] / 100.0)
}

/// One (ratio, method) group of runs.
#[derive(Debug, Clone, Serialize)]
pub struct LffGroup {
    /// The fraction of bias-conflicting training digits.
    pub conflict_ratio: f64,
    /// The method.
    pub method: String,
    /// The seeds that finished.
    pub seeds: Vec<u64>,
    /// Mean and standard deviation of the final unbiased accuracy.
    pub unbiased_mean: f64,
    /// Its sample standard deviation (0 for one seed).
    pub unbiased_std: f64,
    /// Mean final accuracy on the bias-aligned groups.
    pub aligned_mean: f64,
    /// Mean final accuracy on the bias-conflicting groups.
    pub conflicting_mean: f64,
    /// Mean unbiased accuracy of the best epoch (chosen on the test split).
    pub best_mean: f64,
    /// LfF's published number, unverified.
    pub paper_unverified: Option<f64>,
    /// Training time summed over the seeds, seconds.
    pub seconds: f64,
}

/// A cell of the grid without a result.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LffMissingCell {
    /// Ratio.
    pub conflict_ratio: f64,
    /// Method.
    pub method: String,
    /// Seed.
    pub seed: u64,
}

/// LfF's table.
#[derive(Debug, Clone, Serialize)]
pub struct LffReport {
    /// Every run read.
    pub cells: Vec<LffResult>,
    /// The groups, by ratio then method.
    pub groups: Vec<LffGroup>,
    /// Ratio × method × seed combinations seen that have no result.
    pub missing: Vec<LffMissingCell>,
}

/// Whether the result file at `path` is a run on LfF's benchmark.
pub fn is_lff_result(path: &Path) -> Result<bool> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a JSON result", path.display()))?;
    Ok(value["benchmark"] == "lff")
}

/// A method's name in the table.
fn display_name(method: &str) -> &str {
    match method {
        "groupdro" => "Group DRO",
        "lff" => "LfF",
        "lntl" => "LNTL",
        other => other,
    }
}

fn method_rank(method: &str) -> usize {
    ["vanilla", "groupdro", "lff", "lntl"]
        .iter()
        .position(|m| *m == method)
        .unwrap_or(4)
}

/// Aggregates the LfF result files `files`.
pub fn build_lff_report(files: &[PathBuf]) -> Result<LffReport> {
    let cells: Vec<LffResult> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("{}: cannot read", f.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a result of LfF's benchmark", f.display()))
        })
        .collect::<Result<_>>()?;
    let key = |r: &LffResult| {
        (
            r.conflict_ratio.to_bits(),
            method_rank(&r.method),
            r.method.clone(),
        )
    };
    let mut groups: Vec<LffGroup> = group_by(&cells, key)
        .into_iter()
        .map(|(k, runs)| {
            let conflict_ratio = f64::from_bits(k.0);
            let field = |f: fn(&LffResult) -> f64| runs.iter().map(|r| f(r)).collect::<Vec<_>>();
            let (unbiased_mean, unbiased_std) =
                mean_std(&field(|r| r.final_accuracy.unbiased_accuracy));
            let mut seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
            seeds.sort_unstable();
            LffGroup {
                paper_unverified: lff_paper_unverified(&k.2, conflict_ratio)
                    .filter(|_| runs[0].evaluated_on == "test"),
                conflict_ratio,
                method: k.2,
                seeds,
                unbiased_mean,
                unbiased_std,
                aligned_mean: mean_std(&field(|r| r.final_accuracy.aligned_accuracy)).0,
                conflicting_mean: mean_std(&field(|r| r.final_accuracy.conflicting_accuracy)).0,
                best_mean: mean_std(&field(|r| r.best.unbiased_accuracy)).0,
                seconds: field(|r| r.seconds).iter().sum(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        (a.conflict_ratio, method_rank(&a.method))
            .partial_cmp(&(b.conflict_ratio, method_rank(&b.method)))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let missing = missing_cells(&cells);
    Ok(LffReport {
        cells,
        groups,
        missing,
    })
}

/// The ratio × method × seed combinations seen in `cells` that have no result.
fn missing_cells(cells: &[LffResult]) -> Vec<LffMissingCell> {
    // Ratios are positive, so their bits sort as the numbers do.
    grouping::missing_cells(cells, |c| {
        (
            c.conflict_ratio.to_bits(),
            (method_rank(&c.method), c.method.clone()),
            c.seed,
        )
    })
    .into_iter()
    .map(|(ratio, (_, method), seed)| LffMissingCell {
        conflict_ratio: f64::from_bits(ratio),
        method,
        seed,
    })
    .collect()
}

/// The headline table (the README's): the final unbiased accuracy per method (rows) and ratio
/// (columns), mean ± standard deviation over seeds, beside LfF's numbers; with the notes that
/// say what the marks mean.
pub fn lff_headline_table(report: &LffReport) -> String {
    let mut out = String::new();
    let mut ratios: Vec<f64> = report.groups.iter().map(|g| g.conflict_ratio).collect();
    ratios.dedup();
    let mut methods: Vec<&str> = report.groups.iter().map(|g| g.method.as_str()).collect();
    methods.sort_by_key(|m| (method_rank(m), *m));
    methods.dedup();
    let header: Vec<String> = ratios
        .iter()
        .map(|r| format!("{} % conflicting", r * 100.0))
        .collect();
    let _ = writeln!(out, "| method | {} |", header.join(" | "));
    let _ = writeln!(out, "|---|{}", "---|".repeat(ratios.len()));
    for method in methods {
        let row: Vec<String> = ratios
            .iter()
            .map(|&r| {
                let Some(g) = report
                    .groups
                    .iter()
                    .find(|g| g.conflict_ratio == r && g.method == method)
                else {
                    return "–".into();
                };
                let paper = g
                    .paper_unverified
                    .map_or(String::new(), |p| format!(" (paper: {p:.3}*)"));
                format!(
                    "{}{}{paper}",
                    mean_pm(g.unbiased_mean, g.unbiased_std, g.seeds.len()),
                    seeds_mark(g.seeds.len())
                )
            })
            .collect();
        let _ = writeln!(out, "| {} | {} |", display_name(method), row.join(" | "));
    }
    let _ = writeln!(
        out,
        "\nOurs: one seed, or the mean ± standard deviation of ², ³ seeds; – not run yet. \
         \\* The paper: LfF's (Nam et al., 2020), as recalled in docs/LFF.md, not verified."
    );
    out
}

/// The report as Markdown: the headline table, then every group's details and the missing
/// cells.
pub fn lff_markdown(report: &LffReport) -> String {
    let mut out = format!(
        "### LfF's Colored-MNIST (severity 4): unbiased accuracy of the final model\n\n{}\n",
        lff_headline_table(report)
    );
    let _ = writeln!(
        out,
        "| ratio | method | seeds | unbiased | aligned | conflicting | best epoch's unbiased | \
         time (s) |\n|---|---|---|---|---|---|---|---|"
    );
    for g in &report.groups {
        let seeds: Vec<String> = g.seeds.iter().map(u64::to_string).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.0} |",
            g.conflict_ratio,
            g.method,
            seeds.join(","),
            mean_pm(g.unbiased_mean, g.unbiased_std, g.seeds.len()),
            g.aligned_mean,
            g.conflicting_mean,
            g.best_mean,
            g.seconds
        );
    }
    if !report.missing.is_empty() {
        let list: Vec<String> = report
            .missing
            .iter()
            .map(|m| format!("{} {} seed {}", m.method, m.conflict_ratio, m.seed))
            .collect();
        let _ = writeln!(out, "\nMissing: {}.", list.join(", "));
    }
    out
}
