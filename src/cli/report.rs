//! `lntl report`.

use super::log;
use crate::report::table::{build_report, markdown};
use crate::report::write_report;
use anyhow::{Result, ensure};
use clap::Args;
use std::path::PathBuf;

/// Flags of `lntl report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Directories to search for finished runs (result.json), e.g. a sweep's --out.
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Print the report as JSON (every cell) instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Where to write report.md, report.json and the figures [default: the first directory].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `lntl report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let report = build_report(&args.dirs)?;
    ensure!(
        !report.cells.is_empty(),
        "no finished run (result.json) under {}",
        args.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
    for file in write_report(&report, &out)? {
        log(&format!("wrote {}", file.display()));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", markdown(&report));
    }
    Ok(())
}
