//! `lntl sweep`.

use super::log;
use crate::sweep::grid::{Grid, Stage, parse_variances};
use crate::sweep::runner::{SweepOptions, run_sweep};
use crate::train::config::Method;
use crate::train::protocol::Protocol;
use anyhow::{Context, Result, bail};
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `lntl sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// σ² values: `all` (the paper's seven) or a comma-separated list.
    #[arg(long, default_value = "all")]
    pub vars: String,
    /// Methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Method::ALL)]
    pub methods: Vec<Method>,
    /// Training seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0])]
    pub seeds: Vec<u64>,
    /// The protocol of every cell.
    #[arg(long, value_enum)]
    pub protocol: Protocol,
    /// Root of the run directories [default: runs/<protocol>].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cells run at once; the cores are split between them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub jobs: u64,
    /// Measure every cell on held-out training digits instead of the test set.
    #[arg(long)]
    pub validation: bool,
    /// Print one shell command per cell (in dependency order) instead of running them; a
    /// finished baseline whose checkpoint a listed cell needs is listed to be trained again.
    #[arg(long)]
    pub print_commands: bool,
    /// With --print-commands: only the cells that start from scratch, or only those that
    /// warm-start from a baseline cell (for two dependent job arrays).
    #[arg(long, value_enum, default_value_t = Stage::All, requires = "print_commands")]
    pub stage: Stage,
}

/// Runs `lntl sweep`; `threads` and `cache` are the global flags as given.
pub fn run(args: &SweepArgs, threads: Option<usize>, cache: Option<&Path>) -> Result<()> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(args.protocol.name()));
    let grid = Grid {
        protocol: args.protocol,
        out: std::path::absolute(&out)
            .with_context(|| format!("cannot resolve {}", out.display()))?,
        variances: parse_variances(&args.vars)?,
        methods: args.methods.clone(),
        seeds: args.seeds.clone(),
        validation: args.validation,
    };
    let exe = std::env::current_exe().context("cannot find the lntl binary")?;
    let mut global = Vec::new();
    if let Some(cache) = cache {
        global.extend([
            "--cache-dir".to_string(),
            std::path::absolute(cache)?.display().to_string(),
        ]);
    }
    if args.print_commands {
        if let Some(t) = threads {
            global.extend(["--threads".to_string(), t.to_string()]);
        }
        let lines: String = grid
            .cells_to_run(args.stage)
            .iter()
            .map(|c| grid.command_line(c, &exe, &global) + "\n")
            .collect();
        print!("{lines}");
        return Ok(());
    }
    let jobs = args.jobs as usize;
    let cores =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    global.extend(["--threads".to_string(), (cores / jobs).max(1).to_string()]);
    let outcome = run_sweep(&grid, &SweepOptions { jobs, exe, global }, &log)?;
    log(&format!(
        "sweep done: {} finished now, {} before, {} failed",
        outcome.finished,
        outcome.already_finished,
        outcome.failed.len()
    ));
    if !outcome.failed.is_empty() {
        let list: Vec<String> = outcome
            .failed
            .iter()
            .map(|(cell, why)| format!("{}: {why}", cell.label()))
            .collect();
        bail!("{} cell(s) failed:\n{}", list.len(), list.join("\n"));
    }
    Ok(())
}
