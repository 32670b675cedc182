//! The headline table across σ² (the README's): the authors' pipeline (protocol `paper`) beside
//! the paper's numbers for every method at the paper's seven σ², then the three-seed means of
//! the quarter-compute protocol `fast`, where LfF (which uses no color labels) joins them. Each
//! method is compared on what the paper measured it on (Gray on the plain test digits).

use crate::colored::dataset::variance_tag;
use crate::colored::palette::PAPER_VARIANCES;
use crate::report::paper::{paper_accuracy, paper_methods, same_variance};
use crate::report::table::{Group, Report, seeds_mark};
use std::fmt::Write as _;

/// A method's column name (Gray's marked: it is compared on the plain digits).
fn column_name(method: &str) -> &str {
    match method {
        "blindeye" => "BlindEye",
        "gray" => "Gray¹",
        "lntl" => "LNTL",
        "lff" => "LfF",
        other => other,
    }
}

/// The methods of the `fast` columns: the paper's, then LfF on the same conv nets.
fn fast_methods() -> impl Iterator<Item = &'static str> {
    paper_methods().chain(["lff"])
}

/// The group of `protocol`, `method` and σ² = `variance` (evaluated on the test set), if any.
fn group<'a>(report: &'a Report, protocol: &str, method: &str, variance: f64) -> Option<&'a Group> {
    report.groups.iter().find(|g| {
        g.protocol.as_deref() == Some(protocol)
            && g.method == method
            && same_variance(g.variance, variance)
    })
}

/// Our accuracy as the paper's number is compared with, marked with the number of seeds when
/// it is a mean over several (`0.8409³`, `0.81 (12 seeds)`); "–" without a run.
fn ours(group: Option<&Group>) -> String {
    let Some(g) = group else {
        return "–".into();
    };
    format!(
        "{:.4}{}",
        g.compared_with_paper().0,
        seeds_mark(g.seeds.len())
    )
}

/// The table as Markdown: a row per σ², for each method `paper`'s accuracy / the paper's, then
/// `fast`'s; with the notes that say what the marks mean.
pub fn headline_table(report: &Report) -> String {
    let mut out = String::new();
    let paper_names: Vec<String> = paper_methods()
        .map(|m| format!("{}: ours / paper", column_name(m)))
        .collect();
    let fast_names: Vec<&str> = fast_methods().map(column_name).collect();
    let _ = writeln!(
        out,
        "| σ² | {} | `fast`: {} |",
        paper_names.join(" | "),
        fast_names.join(" | ")
    );
    let columns = paper_names.len() + fast_names.len();
    let _ = writeln!(out, "|---|{}", "---|".repeat(columns));
    for &variance in &PAPER_VARIANCES {
        let mut row = format!("| {} |", variance_tag(variance));
        for method in paper_methods() {
            let paper = paper_accuracy(method, variance).expect("the paper reports every cell");
            let _ = write!(
                row,
                " {} / {paper:.4} |",
                ours(group(report, "paper", method, variance))
            );
        }
        for method in fast_methods() {
            let _ = write!(row, " {} |", ours(group(report, "fast", method, variance)));
        }
        let _ = writeln!(out, "{row}");
    }
    let _ = writeln!(
        out,
        "\nOurs: one seed, or ², ³ the mean of two, three seeds; – not run yet. ¹ Gray on the \
         plain MNIST test digits, the measure its row of the paper matches. LfF (Nam et al., \
         2020; docs/LFF.md) is trained on the same conv nets with no color label."
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn made_group(protocol: &str, method: &str, variance: f64, seeds: usize, mean: f64) -> Group {
        Group {
            protocol: Some(protocol.into()),
            method: method.into(),
            variance,
            seeds: (0..seeds as u64).collect(),
            mean,
            std: 0.0,
            paper: paper_accuracy(method, variance),
            plain_digits_mean: (method == "gray").then_some(mean + 0.05),
            plain_digits_std: (method == "gray").then_some(0.0),
            conflicting_mean: None,
            leakage_mean: None,
            test_sh_mean: None,
            seconds: 0.0,
        }
    }

    /// Every σ² has a row with the paper's numbers; ours sit in their protocol's column, Gray's
    /// on the plain digits, three-seed means marked, missing runs as –.
    #[test]
    fn cells_sit_under_their_protocol_and_method() {
        let report = Report {
            cells: vec![],
            files: vec![],
            groups: vec![
                made_group("paper", "lntl", 0.02, 3, 0.8409),
                made_group("paper", "gray", 0.02, 1, 0.7735),
                made_group("fast", "baseline", 0.02, 3, 0.3954),
                made_group("fast", "lntl", 0.05, 3, 0.9536),
                made_group("fast", "blindeye", 0.025, 2, 0.7),
                made_group("fast", "lff", 0.025, 3, 0.45),
                made_group("paper (validation)", "lntl", 0.02, 1, 0.5),
            ],
            missing: vec![],
        };
        let text = headline_table(&report);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| 0.0")).collect();
        assert_eq!(rows.len(), 7);
        assert_eq!(
            rows[0],
            "| 0.020 | – / 0.4055 | – / 0.6741 | 0.8235 / 0.8374 | 0.8409³ / 0.8185 \
             | 0.3954³ | – | – | – | – |"
        );
        assert!(
            rows[1].ends_with("| – | 0.7000² | – | – | 0.4500³ |"),
            "{}",
            rows[1]
        );
        assert_eq!(
            rows[6],
            "| 0.050 | – / 0.8450 | – / 0.9159 | – / 0.9596 | – / 0.9618 | – | – | – | 0.9536³ | – |"
        );
        assert!(
            text.starts_with("| σ² | baseline: ours / paper |"),
            "{text}"
        );
    }
}
