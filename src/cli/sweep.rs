//! `lntl sweep`.

use super::data::Benchmark;
use super::log;
use super::train::MethodName;
use crate::lff_colored::generate::CONFLICT_RATIOS;
use crate::sweep::grid::{Grid, Stage, parse_variances};
use crate::sweep::lff_grid::{LffGrid, parse_ratios};
use crate::sweep::plan::SweepGrid;
use crate::sweep::runner::{SweepOptions, run_sweep};
use crate::train::config::Method;
use crate::train::lff_model::LffMethod;
use crate::train::protocol::Protocol;
use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use std::path::{Path, PathBuf};

/// Flags of `lntl sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// The benchmark: LNTL's σ² Colored-MNIST or LfF's.
    #[arg(long, value_enum, default_value = "lntl")]
    pub benchmark: Benchmark,
    /// σ² values: `all` (the paper's seven) or a comma-separated list [default: all].
    #[arg(long)]
    pub vars: Option<String>,
    /// LfF's benchmark: bias-conflicting fractions, comma-separated
    /// [default: 0.005,0.01,0.02,0.05].
    #[arg(long)]
    pub ratios: Option<String>,
    /// Methods, comma-separated [default: every method of the benchmark].
    #[arg(long, value_enum, value_delimiter = ',')]
    pub methods: Vec<MethodName>,
    /// Training seeds, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [0])]
    pub seeds: Vec<u64>,
    /// The protocol of every cell (LNTL's benchmark; LfF's has LfF's schedule only).
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Root of the run directories [default: runs/<protocol>, LfF's benchmark: runs/lff].
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

/// The methods of `--methods` on one benchmark (`on` maps a name to it), or `all` when none
/// is given.
fn methods_of<M: Copy>(
    args: &SweepArgs,
    all: &[M],
    on: impl Fn(MethodName) -> Option<M>,
    benchmark: &str,
) -> Result<Vec<M>> {
    if args.methods.is_empty() {
        return Ok(all.to_vec());
    }
    args.methods
        .iter()
        .map(|&m| {
            on(m).with_context(|| format!("--method {} is not a method of {benchmark}", m.name()))
        })
        .collect()
}

fn absolute(out: &Path) -> Result<std::path::PathBuf> {
    std::path::absolute(out).with_context(|| format!("cannot resolve {}", out.display()))
}

/// Runs `lntl sweep`; `threads` and `cache` are the global flags as given.
pub fn run(args: &SweepArgs, threads: Option<usize>, cache: Option<&Path>) -> Result<()> {
    match args.benchmark {
        Benchmark::Lntl => {
            ensure!(
                args.ratios.is_none(),
                "--ratios belongs to LfF's benchmark: add --benchmark lff"
            );
            let protocol = args
                .protocol
                .context("LNTL's benchmark needs --protocol (paper, fast or smoke)")?;
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| Path::new("runs").join(protocol.name()));
            let grid = Grid {
                protocol,
                out: absolute(&out)?,
                variances: parse_variances(args.vars.as_deref().unwrap_or("all"))?,
                methods: methods_of(
                    args,
                    &Method::ALL,
                    MethodName::on_lntl_benchmark,
                    "LNTL's benchmark",
                )?,
                seeds: args.seeds.clone(),
                validation: args.validation,
            };
            let cells = grid.cells_for(args.stage);
            sweep(&grid, &cells, args, threads, cache)
        }
        Benchmark::Lff => {
            ensure!(
                args.vars.is_none() && args.protocol.is_none() && !args.validation,
                "--vars, --protocol and --validation belong to LNTL's benchmark"
            );
            let out = args.out.clone().unwrap_or_else(|| "runs/lff".into());
            let grid = LffGrid {
                out: absolute(&out)?,
                ratios: match &args.ratios {
                    Some(text) => parse_ratios(text)?,
                    None => CONFLICT_RATIOS.to_vec(),
                },
                methods: methods_of(
                    args,
                    &[
                        LffMethod::Vanilla,
                        LffMethod::GroupDro,
                        LffMethod::Lff,
                        LffMethod::Lntl,
                    ],
                    MethodName::on_lff_benchmark,
                    "LfF's benchmark",
                )?,
                seeds: args.seeds.clone(),
            };
            // No cell depends on another.
            let cells = match args.stage {
                Stage::Dependent => Vec::new(),
                Stage::All | Stage::Independent => grid.cells_to_run(),
            };
            sweep(&grid, &cells, args, threads, cache)
        }
    }
}

/// Prints the commands of `listed` (with --print-commands) or runs the whole grid.
fn sweep<G: SweepGrid>(
    grid: &G,
    listed: &[G::Cell],
    args: &SweepArgs,
    threads: Option<usize>,
    cache: Option<&Path>,
) -> Result<()> {
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
        let lines: String = listed
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
    let outcome = run_sweep(grid, &SweepOptions { jobs, exe, global }, &log)?;
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
            .map(|(cell, why)| format!("{cell}: {why}"))
            .collect();
        bail!("{} cell(s) failed:\n{}", list.len(), list.join("\n"));
    }
    Ok(())
}
