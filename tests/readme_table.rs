//! The README's tables are what `lntl report results/paper results/fast results/lff
//! --headline` prints for the committed runs: the one across σ², then LfF's. A cell that lands
//! without the README being regenerated, or a number typed into the README by hand, fails here.

#[path = "common/lntl_command.rs"]
mod lntl_command;

use lntl::report::headline::headline_table;
use lntl::report::lff_table::{LffReport, build_lff_report, lff_headline_table};
use lntl::report::table::{Report, build_report, find_results};
use lntl_command::{lntl_ok, lntl_output};
use std::path::PathBuf;

/// The report over the committed `paper` and `fast` runs.
fn committed_report() -> Report {
    build_report(&[
        PathBuf::from("results/paper"),
        PathBuf::from("results/fast"),
    ])
    .expect("the committed results read back")
}

/// The report over the committed runs on LfF's benchmark.
fn committed_lff_report() -> LffReport {
    let (_, lff_files) = find_results(&[PathBuf::from("results/lff")]).expect("results/lff");
    build_lff_report(&lff_files).expect("the committed LfF results read back")
}

#[test]
fn the_readme_shows_the_committed_results() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    for (name, table) in [
        ("table across σ²", headline_table(&committed_report())),
        ("LfF table", lff_headline_table(&committed_lff_report())),
    ] {
        assert!(
            readme.contains(&table),
            "README.md's {name} is not the committed results' (regenerate it with \
             `lntl report results/paper results/fast results/lff --headline`):\n{table}"
        );
    }
}

/// The command the README names prints that table and nothing else, and refuses to be mixed
/// with the flags that write or print the full report.
#[test]
fn the_headline_command_prints_the_table() {
    let report = committed_report();
    let printed = lntl_ok(["report", "results/paper", "results/fast", "--headline"]);
    assert_eq!(printed, headline_table(&report));
    let both = lntl_ok([
        "report",
        "results/paper",
        "results/fast",
        "results/lff",
        "--headline",
    ]);
    assert_eq!(
        both,
        format!(
            "{}\n{}",
            headline_table(&report),
            lff_headline_table(&committed_lff_report())
        )
    );
    for extra in [&["--json"][..], &["--out", "elsewhere"]] {
        let mut args = vec!["report", "results/paper", "--headline"];
        args.extend(extra);
        let out = lntl_output(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    }
    assert!(!std::path::Path::new("elsewhere").exists());
}
