//! `lntl bench`.

use crate::bench::{BenchReport, Timing, run_bench};
use anyhow::Result;
use clap::Args;

/// Flags of `lntl bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Timed runs per measurement.
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

fn line(name: &str, t: &Timing) -> String {
    format!(
        "{name:<16} median {:>8.1} ms  min {:>8.1} ms  {:>6.2} GFLOP  {:>6.1} GFLOP/s  {:>5.1}% of GEMM peak",
        t.median_ms,
        t.min_ms,
        t.gflop,
        t.gflops,
        100.0 * t.fraction_of_peak
    )
}

/// Runs the benchmark and prints it.
pub fn run(args: &BenchArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; benchmark with `cargo run --release -- bench`");
    }
    let report: BenchReport = run_bench(args.batch, args.runs.max(1));
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "batch {}, {} threads, {} runs; GEMM peak {:.1} GFLOP/s",
        report.batch, report.threads, report.runs, report.gemm_peak_gflops
    );
    println!("{}", line("forward", &report.forward));
    println!("{}", line("baseline step", &report.baseline_step));
    println!("{}", line("LNTL iteration", &report.lntl_step));
    println!("{}", line("inference 10k", &report.inference_10k));
    Ok(())
}
