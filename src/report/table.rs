//! The σ² table of a set of finished runs: every `result.json` under the given directories,
//! grouped by (protocol, method, σ²) into mean ± standard deviation over seeds, beside the
//! paper's number, with the cells of the grid that have no result listed as missing.

use crate::report::grouping::{self, group_by};
use crate::report::lff_table::is_lff_result;
use crate::report::paper::{paper_accuracy, paper_measures_plain_digits, paper_methods};
use crate::train::result::{RESULT_FILE, RunResult, read_result};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The epoch after which the authors' test.sh evaluates (`checkpoint_step_0090.pth`, saved
/// after the 91st epoch: their steps count from 0).
pub const TEST_SH_EPOCH: usize = 91;

/// Mean and sample standard deviation (n − 1; 0 for a single value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 {
        values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// One (protocol, method, σ²) group of runs.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    /// Protocol name (`null` for hand-set flags).
    pub protocol: Option<String>,
    /// Method name.
    pub method: String,
    /// σ².
    pub variance: f64,
    /// Seeds with a result.
    pub seeds: Vec<u64>,
    /// Mean test accuracy over the seeds.
    pub mean: f64,
    /// Sample standard deviation of the test accuracy.
    pub std: f64,
    /// The paper's accuracy, if it reports this cell.
    pub paper: Option<f64>,
    /// Mean accuracy on the plain test digits (the authors' `test_gray`), when every run
    /// measured it.
    pub plain_digits_mean: Option<f64>,
    /// Sample standard deviation of the accuracy on the plain test digits, with the mean.
    pub plain_digits_std: Option<f64>,
    /// Mean accuracy on bias-conflicting test digits.
    pub conflicting_mean: Option<f64>,
    /// Mean color leakage.
    pub leakage_mean: Option<f64>,
    /// Mean test accuracy after epoch 91, when every run got there: the authors' test.sh
    /// evaluates `checkpoint_step_0090.pth`, and their steps count epochs from 0.
    pub test_sh_mean: Option<f64>,
    /// Training time of the group's runs, seconds.
    pub seconds: f64,
}

impl Group {
    /// Whether the paper's number is compared with [`Group::plain_digits_mean`] (Gray, when
    /// measured: [`paper_measures_plain_digits`]) rather than with [`Group::mean`].
    pub fn paper_on_plain_digits(&self) -> bool {
        self.plain_digits_mean.is_some() && paper_measures_plain_digits(&self.method)
    }

    /// Our mean and standard deviation of what the paper's number is compared with.
    pub fn compared_with_paper(&self) -> (f64, f64) {
        match (self.plain_digits_mean, self.plain_digits_std) {
            (Some(mean), Some(std)) if self.paper_on_plain_digits() => (mean, std),
            _ => (self.mean, self.std),
        }
    }
}

/// A cell of the grid (protocol × method × σ² × seed) without a result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MissingCell {
    /// Protocol name.
    pub protocol: Option<String>,
    /// Method name.
    pub method: String,
    /// σ².
    pub variance: f64,
    /// Seed.
    pub seed: u64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every run found.
    pub cells: Vec<RunResult>,
    /// The `result.json` each cell came from.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// The groups, ordered by protocol, method, σ².
    pub groups: Vec<Group>,
    /// Grid cells without a result: per protocol, every σ² × method × seed seen in it.
    pub missing: Vec<MissingCell>,
}

/// Every `result.json` under `dir`, in path order.
fn result_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("{}: cannot list", dir.display()))?;
    entries.sort();
    for path in entries {
        if path.is_dir() {
            result_files(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == RESULT_FILE) {
            out.push(path);
        }
    }
    Ok(())
}

/// [`mean_std`] of the values, when every one is there.
fn mean_std_of(values: impl Iterator<Item = Option<f64>>) -> Option<(f64, f64)> {
    let v: Option<Vec<f64>> = values.collect();
    v.filter(|v| !v.is_empty()).map(|v| mean_std(&v))
}

fn mean_of(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    mean_std_of(values).map(|(mean, _)| mean)
}

/// Every result file under `dirs`, split into runs on LNTL's benchmark and runs on LfF's.
pub fn find_results(dirs: &[PathBuf]) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut files = Vec::new();
    for dir in dirs {
        result_files(dir, &mut files)?;
    }
    let mut lff = Vec::new();
    let mut lntl = Vec::new();
    for file in files {
        if is_lff_result(&file)? {
            lff.push(file);
        } else {
            lntl.push(file);
        }
    }
    Ok((lntl, lff))
}

/// Reads every result of LNTL's benchmark under `dirs` and aggregates them.
pub fn build_report(dirs: &[PathBuf]) -> Result<Report> {
    let files = find_results(dirs)?.0;
    let cells: Vec<RunResult> = files
        .iter()
        .map(|f| read_result(f))
        .collect::<Result<_>>()?;
    let key = |r: &RunResult| (protocol_label(r), r.method.clone(), r.variance.to_bits());
    let mut groups: Vec<Group> = group_by(&cells, key)
        .into_iter()
        .map(|(k, runs)| {
            let variance = f64::from_bits(k.2);
            let accuracies: Vec<f64> = runs.iter().map(|r| r.test_accuracy).collect();
            let (mean, std) = mean_std(&accuracies);
            let mut seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
            seeds.sort_unstable();
            let plain = mean_std_of(runs.iter().map(|r| r.plain_digits_accuracy));
            Group {
                plain_digits_mean: plain.map(|(mean, _)| mean),
                plain_digits_std: plain.map(|(_, std)| std),
                paper: paper_accuracy(&k.1, variance),
                protocol: k.0,
                method: k.1,
                variance,
                seeds,
                mean,
                std,
                conflicting_mean: mean_of(runs.iter().map(|r| r.conflicting_accuracy)),
                leakage_mean: mean_of(runs.iter().map(|r| r.color_leakage)),
                test_sh_mean: mean_of(runs.iter().map(|r| r.test_accuracy_at(TEST_SH_EPOCH))),
                seconds: runs.iter().map(|r| r.seconds).sum(),
            }
        })
        .collect();
    groups.sort_by(|a, b| {
        (&a.protocol, method_rank(&a.method), a.variance)
            .partial_cmp(&(&b.protocol, method_rank(&b.method), b.variance))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let missing = missing_cells(&cells);
    Ok(Report {
        cells,
        files,
        groups,
        missing,
    })
}

/// How a result's protocol is shown and grouped: its name, marked when it was measured on
/// validation digits, so that validation and test results never mix in one row.
fn protocol_label(r: &RunResult) -> Option<String> {
    match (&r.protocol, r.evaluated_on.as_str()) {
        (p, "test") => p.clone(),
        (p, on) => Some(format!("{} ({on})", p.as_deref().unwrap_or("no protocol"))),
    }
}

/// The paper's row order: baseline, BlindEye, Gray, LNTL, then anything else.
fn method_rank(method: &str) -> usize {
    paper_methods()
        .position(|m| m == method)
        .unwrap_or(usize::MAX)
}

/// Per protocol, the σ² × method × seed combinations seen in it that have no result.
fn missing_cells(cells: &[RunResult]) -> Vec<MissingCell> {
    group_by(cells, protocol_label)
        .into_iter()
        .flat_map(|(protocol, runs)| {
            // σ² are positive, so their bits sort as the numbers do.
            grouping::missing_cells(&runs, |c| {
                (
                    c.variance.to_bits(),
                    (method_rank(&c.method), c.method.clone()),
                    c.seed,
                )
            })
            .into_iter()
            .map(move |(variance, (_, method), seed)| MissingCell {
                protocol: protocol.clone(),
                method,
                variance: f64::from_bits(variance),
                seed,
            })
        })
        .collect()
}

/// How many of `cells` finished on each CPU, e.g. `AMD EPYC (AVX-512) 3 runs`, `not recorded 1
/// run`: a training time is only comparable with others measured on the same CPU.
fn cpu_counts<'a>(cells: impl Iterator<Item = &'a RunResult>) -> Vec<String> {
    let mut recorded: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unrecorded = 0;
    for cell in cells {
        match &cell.cpu {
            Some(cpu) => *recorded.entry(cpu.as_str()).or_default() += 1,
            None => unrecorded += 1,
        }
    }
    let runs = |n: usize| {
        if n == 1 {
            "1 run".to_string()
        } else {
            format!("{n} runs")
        }
    };
    let mut phrases: Vec<String> = recorded
        .into_iter()
        .map(|(cpu, n)| format!("{cpu} {}", runs(n)))
        .collect();
    if unrecorded > 0 {
        phrases.push(format!("not recorded {}", runs(unrecorded)));
    }
    phrases
}

/// The number of seeds behind a mean, as a superscript (`²`, `³`; nothing for one seed,
/// ` (12 seeds)` past nine), so that a table of means says how many runs each one averages.
pub(crate) fn seeds_mark(seeds: usize) -> String {
    match seeds {
        0 | 1 => String::new(),
        2..=9 => "⁰¹²³⁴⁵⁶⁷⁸⁹".chars().nth(seeds).into_iter().collect(),
        _ => format!(" ({seeds} seeds)"),
    }
}

/// `0.8123 ± 0.0100`, or `0.8123` for a single seed.
pub(crate) fn mean_pm(mean: f64, std: f64, n: usize) -> String {
    if n > 1 {
        format!("{mean:.4} ± {std:.4}")
    } else {
        format!("{mean:.4}")
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{v:.4}"))
}

/// Every run of `protocol` with the commit, CPU and thread count it was trained with, so that
/// a table quoting these cells can say where each comes from.
fn runs_table(out: &mut String, report: &Report, protocol: &Option<String>) {
    let mut cells: Vec<&RunResult> = report
        .cells
        .iter()
        .filter(|c| protocol_label(c) == *protocol)
        .collect();
    cells.sort_by(|a, b| {
        a.variance.total_cmp(&b.variance).then_with(|| {
            (method_rank(&a.method), &a.method, a.seed).cmp(&(
                method_rank(&b.method),
                &b.method,
                b.seed,
            ))
        })
    });
    let _ = writeln!(out, "Each run:\n");
    let _ = writeln!(
        out,
        "| σ² | method | seed | accuracy | commit | CPU | threads |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for c in cells {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.4} | {} | {} | {} |",
            crate::colored::dataset::variance_tag(c.variance),
            c.method,
            c.seed,
            c.test_accuracy,
            c.commit.get(..7).unwrap_or(&c.commit),
            c.cpu.as_deref().unwrap_or("not recorded"),
            c.threads
        );
    }
    let _ = writeln!(out);
}

/// The report as Markdown: one table per protocol (a row per method and σ²), then the
/// missing cells.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let protocols: BTreeSet<Option<String>> =
        report.groups.iter().map(|g| g.protocol.clone()).collect();
    for protocol in protocols {
        let name = protocol.as_deref().unwrap_or("(no protocol)");
        let _ = writeln!(out, "### Protocol `{name}`\n");
        let measured = if name.ends_with("(validation)") {
            "held-out training digits recolored at random (validation), not the test set"
        } else {
            "the unbiased test set"
        };
        let _ = writeln!(
            out,
            "Accuracies on {measured}; the paper's are on its test set.\n"
        );
        let _ = writeln!(
            out,
            "| method | σ² | seeds | accuracy (mean ± std) | plain digits | paper | ours − paper | \
             test.sh (after epoch 91) | bias-conflicting | color leakage | training time |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
        let mut plain_compared = false;
        let (mut runs, mut seconds) = (0, 0.0);
        for g in report.groups.iter().filter(|g| g.protocol == protocol) {
            runs += g.seeds.len();
            seconds += g.seconds;
            let seeds: Vec<String> = g.seeds.iter().map(u64::to_string).collect();
            let mark = if g.paper_on_plain_digits() { "¹" } else { "" };
            plain_compared |= g.paper_on_plain_digits();
            let _ = writeln!(
                out,
                "| {} | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {} | {:.0} min |",
                g.method,
                crate::colored::dataset::variance_tag(g.variance),
                g.seeds.len(),
                seeds.join(", "),
                mean_pm(g.mean, g.std, g.seeds.len()),
                optional(g.plain_digits_mean),
                optional(g.paper),
                g.paper.map_or("–".into(), |p| format!(
                    "{:+.4}{mark}",
                    g.compared_with_paper().0 - p
                )),
                optional(g.test_sh_mean),
                optional(g.conflicting_mean),
                optional(g.leakage_mean),
                g.seconds / 60.0
            );
        }
        let _ = writeln!(out);
        let minutes = (seconds / 60.0).round() as u64;
        let cpus = cpu_counts(
            report
                .cells
                .iter()
                .filter(|c| protocol_label(c) == protocol),
        );
        let _ = writeln!(
            out,
            "Runs: {runs}; training time {} h {:02} min (each run's own wall-clock time, summed){}.\n",
            minutes / 60,
            minutes % 60,
            if cpus.is_empty() {
                String::new()
            } else {
                format!("; CPUs: {}", cpus.join(", "))
            }
        );
        let footnote = if plain_compared {
            " ¹ Gray is compared with the paper on them, the measure its row matches \
             (docs/REPRODUCTION.md)."
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "Plain digits: accuracy on the plain MNIST test digits (the authors' \
             `test_gray`).{footnote}\n"
        );
        runs_table(&mut out, report, &protocol);
    }
    if report.missing.is_empty() {
        let _ = writeln!(out, "No cell of the grid is missing.");
    } else {
        let _ = writeln!(
            out,
            "Missing cells ({}), without a result:\n",
            report.missing.len()
        );
        for m in &report.missing {
            let _ = writeln!(
                out,
                "- {} σ² = {} seed {} (protocol {})",
                m.method,
                crate::colored::dataset::variance_tag(m.variance),
                m.seed,
                m.protocol.as_deref().unwrap_or("none")
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[0.8, 0.9, 1.0]);
        assert!((m - 0.9).abs() < 1e-12 && (s - 0.1).abs() < 1e-12);
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
        assert!(mean_std(&[]).0.is_nan());
    }

    fn group(method: &str, mean: f64, plain_digits_mean: Option<f64>) -> Group {
        Group {
            protocol: Some("paper".into()),
            method: method.into(),
            variance: 0.02,
            seeds: vec![0],
            mean,
            std: 0.0,
            paper: paper_accuracy(method, 0.02),
            plain_digits_mean,
            plain_digits_std: plain_digits_mean.map(|_| 0.01),
            conflicting_mean: None,
            leakage_mean: None,
            test_sh_mean: None,
            seconds: 60.0,
        }
    }

    /// Gray meets the paper on the plain test digits, the other methods on the colored test
    /// set; a Gray run without the plain-digit measure is compared on the colored set, unmarked.
    #[test]
    fn gray_is_compared_with_the_paper_on_the_plain_digits() {
        let report = |groups| Report {
            cells: vec![],
            files: vec![],
            groups,
            missing: vec![],
        };
        let text = markdown(&report(vec![
            group("gray", 0.7721, Some(0.8422)),
            group("lntl", 0.8328, Some(0.8725)),
        ]));
        assert!(
            text.contains("| gray | 0.020 | 1 (0) | 0.7721 | 0.8422 | 0.8374 | +0.0048¹ |"),
            "{text}"
        );
        assert!(
            text.contains("| lntl | 0.020 | 1 (0) | 0.8328 | 0.8725 | 0.8185 | +0.0143 |"),
            "{text}"
        );
        assert!(text.contains("¹ Gray is compared"), "{text}");
        assert_eq!(
            group("gray", 0.7721, Some(0.8422)).compared_with_paper(),
            (0.8422, 0.01)
        );
        assert_eq!(
            group("lntl", 0.8328, Some(0.8725)).compared_with_paper(),
            (0.8328, 0.0)
        );

        let text = markdown(&report(vec![group("gray", 0.7721, None)]));
        assert!(text.contains("| 0.7721 | – | 0.8374 | -0.0653 |"), "{text}");
        assert!(!text.contains('¹'), "{text}");
    }

    /// Each protocol's table ends with the summed training time of its runs.
    #[test]
    fn each_protocol_sums_its_training_time() {
        let mut lntl = group("lntl", 0.8328, None);
        lntl.seeds = vec![0, 1, 2];
        lntl.seconds = 3.0 * 3600.0 + 58.0 * 60.0 + 40.0;
        let mut fast = group("baseline", 0.39, None);
        fast.protocol = Some("fast".into());
        let text = markdown(&Report {
            cells: vec![],
            files: vec![],
            groups: vec![group("baseline", 0.39, None), lntl, fast],
            missing: vec![],
        });
        assert!(text.contains("Runs: 4; training time 4 h 00 min"), "{text}");
        assert!(text.contains("Runs: 1; training time 0 h 01 min"), "{text}");
    }

    /// A `fast` LNTL result at σ² = 0.020, seed 0, trained at commit "0", on `cpu`.
    fn result(cpu: Option<&str>) -> RunResult {
        let mut r: RunResult = serde_json::from_value(serde_json::json!({
            "variance": 0.02, "method": "lntl", "seed": 0, "protocol": "fast", "epochs": 1,
            "test_accuracy": 0.8, "aligned_accuracy": null, "conflicting_accuracy": null,
            "color_leakage": null, "seconds": 1.0, "threads": 1, "command": "lntl train",
            "commit": "0", "data_seed": 0, "jitter": "reflect",
            "curves": {"test_accuracy": [], "aligned_accuracy": [],
                "conflicting_accuracy": [], "color_leakage": [],
                "loss_classification": [], "train_accuracy": []}
        }))
        .unwrap();
        r.cpu = cpu.map(str::to_string);
        r
    }

    /// Each protocol lists its runs by σ², method (in the paper's order) and seed, each with its
    /// commit cut to 7 digits, CPU and thread count; another protocol's runs are not listed.
    #[test]
    fn each_run_is_listed_with_its_commit_and_cpu() {
        let cell = |method: &str, variance: f64, seed: u64, commit: &str, cpu: Option<&str>| {
            let mut r = result(cpu);
            r.method = method.into();
            r.variance = variance;
            r.seed = seed;
            r.commit = commit.into();
            r.test_accuracy = 0.5 + seed as f64 / 10.0;
            r.threads = 2;
            r
        };
        let mut paper = cell("baseline", 0.02, 0, "86f29b3c8a65", None);
        paper.protocol = Some("paper".into());
        let cells = vec![
            cell("lntl", 0.025, 0, "f32b04107541", Some("Xeon (AVX-512)")),
            cell("lntl", 0.02, 1, "0f273370706f", None),
            cell("baseline", 0.02, 0, "86f29b3c8a65", Some("EPYC (AVX2)")),
            paper,
        ];
        let mut text = String::new();
        let report = Report {
            cells,
            files: vec![],
            groups: vec![],
            missing: vec![],
        };
        runs_table(&mut text, &report, &Some("fast".into()));
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| 0.0")).collect();
        assert_eq!(
            rows,
            [
                "| 0.020 | baseline | 0 | 0.5000 | 86f29b3 | EPYC (AVX2) | 2 |",
                "| 0.020 | lntl | 1 | 0.6000 | 0f27337 | not recorded | 2 |",
                "| 0.025 | lntl | 0 | 0.5000 | f32b041 | Xeon (AVX-512) | 2 |",
            ]
        );
    }

    /// The CPUs are tallied by name, those not recorded (older results) last.
    #[test]
    fn cpus_are_counted_by_name() {
        let cells = [
            result(None),
            result(Some("Xeon (AVX2)")),
            result(Some("EPYC (AVX-512)")),
            result(Some("Xeon (AVX2)")),
        ];
        assert_eq!(
            cpu_counts(cells.iter()),
            [
                "EPYC (AVX-512) 1 run",
                "Xeon (AVX2) 2 runs",
                "not recorded 1 run"
            ]
        );
        assert!(cpu_counts([].iter()).is_empty());
    }
}
