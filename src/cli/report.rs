//! `lntl report`.

use super::log;
use crate::report::headline::headline_table;
use crate::report::lff_figures::write_lff_curves;
use crate::report::lff_table::{build_lff_report, lff_headline_table, lff_markdown};
use crate::report::table::{build_report, find_results, markdown};
use crate::report::write_report;
use crate::util::atomic::write_bytes_atomic;
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
    /// Print only the README's tables and write nothing: across σ² (protocol `paper` beside
    /// the paper, then `fast`'s means) for runs on LNTL's benchmark, LfF's table for runs on
    /// LfF's.
    #[arg(long, conflicts_with_all = ["json", "out"])]
    pub headline: bool,
    /// Where to write report.md, report.json and the figures (LfF's benchmark:
    /// lff_report.md and lff_report.json) [default: the first directory].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `lntl report`: LNTL's σ² table for the runs on its benchmark, LfF's table for the runs
/// on LfF's.
pub fn run(args: &ReportArgs) -> Result<()> {
    let (lntl_files, lff_files) = find_results(&args.dirs)?;
    ensure!(
        !lntl_files.is_empty() || !lff_files.is_empty(),
        "no finished run (result.json) under {}",
        args.dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if args.headline {
        let mut tables = Vec::new();
        if !lntl_files.is_empty() {
            tables.push(headline_table(&build_report(&args.dirs)?));
        }
        if !lff_files.is_empty() {
            tables.push(lff_headline_table(&build_lff_report(&lff_files)?));
        }
        print!("{}", tables.join("\n"));
        return Ok(());
    }
    let out = args.out.clone().unwrap_or_else(|| args.dirs[0].clone());
    // With --json and both benchmarks: one object with a member per benchmark.
    let mut json = serde_json::Map::new();
    if !lntl_files.is_empty() {
        let report = build_report(&args.dirs)?;
        for file in write_report(&report, &out)? {
            log(&format!("wrote {}", file.display()));
        }
        if args.json {
            json.insert("lntl".into(), serde_json::to_value(&report)?);
        } else {
            print!("{}", markdown(&report));
        }
    }
    if !lff_files.is_empty() {
        let report = build_lff_report(&lff_files)?;
        std::fs::create_dir_all(&out)?;
        let md = out.join("lff_report.md");
        write_bytes_atomic(&md, lff_markdown(&report).as_bytes())?;
        let json_path = out.join("lff_report.json");
        let value = serde_json::to_value(&report)?;
        write_bytes_atomic(
            &json_path,
            (serde_json::to_string_pretty(&value)? + "\n").as_bytes(),
        )?;
        log(&format!(
            "wrote {}\nwrote {}",
            md.display(),
            json_path.display()
        ));
        for png in write_lff_curves(&report, &lff_files, &out)? {
            log(&format!("wrote {}", png.display()));
        }
        if args.json {
            json.insert("lff".into(), value);
        } else {
            print!("{}", lff_markdown(&report));
        }
    }
    if args.json {
        let value = match json.len() {
            1 => json.into_iter().next().expect("one member").1,
            _ => serde_json::Value::Object(json),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    }
    Ok(())
}
