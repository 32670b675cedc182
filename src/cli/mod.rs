//! The `lntl` command line. Thin: it parses flags and calls the library.

mod bench;
mod compat;
mod data;
mod export;
mod report;
mod sweep;
mod train;
mod train_lff;

use crate::data::cache::cache_dir;
use anyhow::{Context, Result};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

/// Learning Not to Learn (CVPR 2019) on Colored-MNIST.
#[derive(Debug, Parser)]
#[command(name = "lntl", version, about)]
pub struct Cli {
    /// Cache directory for MNIST and generated datasets [default: $LNTL_HOME, else ~/.cache/lntl].
    #[arg(long, global = true)]
    pub cache_dir: Option<PathBuf>,
    /// Worker threads, 1 to 1024 [default: $RAYON_NUM_THREADS, else one per core].
    #[arg(long, global = true, value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch MNIST, build Colored-MNIST, preview and check it.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a model on Colored-MNIST: baseline, lntl, gray or blindeye on LNTL's benchmark,
    /// vanilla or lff on LfF's (--benchmark lff).
    Train(Box<train::TrainArgs>),
    /// Evaluate a checkpoint on the unbiased test set.
    Test(train::TestArgs),
    /// Run the σ² table as a grid of runs (σ² × method × seed), resuming where it stopped.
    Sweep(sweep::SweepArgs),
    /// Summarize finished runs: the σ² table (mean ± std over seeds, the paper beside it) and
    /// figures.
    Report(report::ReportArgs),
    /// Time the forward pass, a baseline step and an LNTL iteration (use a release build).
    Bench(bench::BenchArgs),
    /// Write a checkpoint's networks for PyTorch (the authors' module names and layouts).
    Export(export::ExportArgs),
}

fn parse_threads(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err(format!("must be a whole number from 1 to 1024, got {text}")),
    }
}

/// `cmd` and every subcommand with negative numbers taken as values, so that `--var -1` reaches
/// the flag's own validation ("σ² must be in (0, 1]") instead of clap's "unexpected argument".
fn allowing_negative_numbers(cmd: clap::Command) -> clap::Command {
    cmd.allow_negative_numbers(true)
        .mut_subcommands(allowing_negative_numbers)
}

/// Parses the process arguments (translating the originals' `--phase=…` form) and runs the
/// command.
pub fn run() -> Result<()> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let args = if compat::is_legacy(&args) {
        compat::translate(&args)?
    } else {
        args
    };
    let matches = allowing_negative_numbers(Cli::command()).get_matches_from(args);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // The command runs on one of the pool's threads, not beside them: a parallel loop started
    // from outside the pool parks the caller until a worker wakes it, and the caller then
    // competes with the workers for the cores (thousands of context switches per second).
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(cli.threads.unwrap_or(0))
        .build()
        .context("cannot configure the thread pool")?;
    pool.install(|| dispatch(cli))
}

/// Runs the parsed command.
fn dispatch(cli: Cli) -> Result<()> {
    let cache = cache_dir(cli.cache_dir.as_deref());
    match cli.command {
        Command::Data(cmd) => data::run(cmd, &cache),
        Command::Train(args) => train::run_train(&args, &cache),
        Command::Test(args) => train::run_test(&args, &cache),
        Command::Sweep(args) => sweep::run(&args, cli.threads, cli.cache_dir.as_deref()),
        Command::Report(args) => report::run(&args),
        Command::Bench(args) => bench::run(&args),
        Command::Export(args) => export::run(&args),
    }
}

/// Prints a progress line to standard error.
pub(crate) fn log(line: &str) {
    eprintln!("{line}");
}
