//! The README's table across σ² is what `lntl report results/paper results/fast --headline`
//! prints for the committed runs: a cell that lands without the README being regenerated, or a
//! number typed into the README by hand, fails here.

#[path = "common/lntl_command.rs"]
mod lntl_command;

use lntl::report::headline::headline_table;
use lntl::report::table::{Report, build_report};
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

#[test]
fn the_readme_shows_the_committed_results() {
    let report = committed_report();
    let table = headline_table(&report);
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    assert!(
        readme.contains(&table),
        "README.md's table across σ² is not the committed results' (regenerate it with \
         `lntl report results/paper results/fast --headline`):\n{table}"
    );
}

/// The command the README names prints that table and nothing else, and refuses to be mixed
/// with the flags that write or print the full report.
#[test]
fn the_headline_command_prints_the_table() {
    let report = committed_report();
    let printed = lntl_ok(["report", "results/paper", "results/fast", "--headline"]);
    assert_eq!(printed, headline_table(&report));
    for extra in [&["--json"][..], &["--out", "elsewhere"]] {
        let mut args = vec!["report", "results/paper", "--headline"];
        args.extend(extra);
        let out = lntl_output(&args);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    }
    assert!(!std::path::Path::new("elsewhere").exists());
}
