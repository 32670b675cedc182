//! `lntl bench`.

use crate::bench::layers::{LayerTiming, layer_timings};
use crate::bench::{BenchReport, Step, Timing, run_bench};
use crate::util::cpu::cpu_description;
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
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Time only this step (repeat the flag for several; all four when absent).
    #[arg(long = "step", value_enum, conflicts_with = "layers")]
    pub steps: Vec<Step>,
    /// Time each layer alone (forward, weight gradient, input gradient) instead of whole steps.
    #[arg(long)]
    pub layers: bool,
}

fn line(name: &str, t: &Option<Timing>) -> Option<String> {
    let t = t.as_ref()?;
    Some(format!(
        "{name:<16} median {:>8.1} ms  min {:>8.1} ms  {:>6.2} GFLOP  {:>6.1} GFLOP/s  {:>5.1}% of GEMM peak",
        t.median_ms,
        t.min_ms,
        t.gflop,
        t.gflops,
        100.0 * t.fraction_of_peak
    ))
}

fn milliseconds(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_string(), |ms| format!("{ms:.2}"))
}

fn print_layers(timings: &[LayerTiming]) {
    println!("{}", cpu_description());
    println!(
        "{:<14}{:<15}{:>10}{:>13}{:>12}{:>10}",
        "layer", "method", "forward", "weight grad", "input grad", "GFLOP/s"
    );
    for t in timings {
        // Rate of the forward pass; each backward pass does the same multiply-adds.
        let rate = t.gflop.map(|g| format!("{:.0}", g / (t.forward_ms / 1e3)));
        println!(
            "{:<14}{:<15}{:>10.2}{:>13}{:>12}{:>10}",
            t.layer,
            t.method,
            t.forward_ms,
            milliseconds(t.weight_grad_ms),
            milliseconds(t.input_grad_ms),
            rate.unwrap_or_else(|| "-".to_string())
        );
    }
    println!(
        "ms, fastest of the runs; GFLOP/s of the forward pass counts a direct convolution's \
         multiply-adds (Winograd does 3.1x fewer); the stem's backward computes its parameter \
         gradients (the data needs none); heads.bn's forward forms its statistics and \
         heads.conv_b applies it with its ReLU as it reads its input; heads.bn's backward \
         computes both gradients"
    );
}

/// Runs the benchmark and prints it.
pub fn run(args: &BenchArgs) -> Result<()> {
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build; benchmark with `cargo run --release -- bench`");
    }
    if args.layers {
        let timings = layer_timings(args.batch, args.runs.max(1));
        if args.json {
            println!("{}", serde_json::to_string(&timings)?);
        } else {
            print_layers(&timings);
        }
        return Ok(());
    }
    let report: BenchReport = run_bench(args.batch, args.runs.max(1), &args.steps);
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "{}: batch {}, {} threads, {} runs; GEMM peak {:.1} GFLOP/s",
        report.cpu, report.batch, report.threads, report.runs, report.gemm_peak_gflops
    );
    let lines = [
        line("forward", &report.forward),
        line("baseline step", &report.baseline_step),
        line("LNTL iteration", &report.lntl_step),
        line("inference 10k", &report.inference_10k),
    ];
    for line in lines.into_iter().flatten() {
        println!("{line}");
    }
    Ok(())
}
