//! `lntl bench`: times the forward pass, a baseline step and an LNTL iteration at a given batch
//! size on synthetic data, counts their multiply-adds, and relates the speed to the measured
//! single-precision GEMM peak of this machine.

pub mod flops;
pub mod layers;

use crate::engine::matmul::{MatRef, matmul};
use crate::engine::tensor::Tensor;
use crate::methods::LearningRates;
use crate::methods::baseline::baseline_step;
use crate::methods::batch::Batch;
use crate::methods::lntl::{LntlConfig, lntl_step};
use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;
use crate::train::config::paper_sgd;
use crate::util::cpu::cpu_description;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Timing of one kind of step.
#[derive(Debug, Clone, Serialize)]
pub struct Timing {
    /// Median wall time, milliseconds.
    pub median_ms: f64,
    /// Fastest run, milliseconds.
    pub min_ms: f64,
    /// Useful GFLOP per run (2 × multiply-adds, with docs/SPEC.md §3's skips).
    pub gflop: f64,
    /// GFLOP/s at the median time.
    pub gflops: f64,
    /// Fraction of the measured GEMM peak at the median time.
    pub fraction_of_peak: f64,
}

/// A step `lntl bench` can time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Step {
    /// The forward pass of f and g.
    Forward,
    /// A baseline training step.
    Baseline,
    /// An LNTL iteration.
    Lntl,
    /// Inference on 10,000 images.
    Inference,
}

/// The whole report, also printed as JSON by `lntl bench --json`; a step that was not selected
/// is absent (`None`, left out of the JSON).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// The CPU measured on ([`cpu_description`]).
    pub cpu: String,
    /// Worker threads.
    pub threads: usize,
    /// Batch size.
    pub batch: usize,
    /// Timed runs per measurement (after one warm-up run).
    pub runs: usize,
    /// Best single-precision GEMM rate measured on conv-shaped products, all threads.
    pub gemm_peak_gflops: f64,
    /// Forward pass of f and g (evaluation mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward: Option<Timing>,
    /// One baseline training step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_step: Option<Timing>,
    /// One LNTL iteration (both phases).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lntl_step: Option<Timing>,
    /// Inference on 10,000 images (the test set's size) in evaluation batches of `batch`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_10k: Option<Timing>,
    /// Median forward time, ms (flat copy for scripts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forward_ms: Option<f64>,
    /// Median baseline step time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_step_ms: Option<f64>,
    /// Median LNTL iteration time, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lntl_step_ms: Option<f64>,
    /// Median time to classify 10,000 images, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inference_10k_ms: Option<f64>,
}

/// Images in the test set, which [`BenchReport::inference_10k`] classifies.
const TEST_IMAGES: usize = 10_000;

fn time_runs(runs: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], ms[0])
}

fn timing(runs: usize, gflop: f64, peak: f64, f: impl FnMut()) -> Timing {
    let (median_ms, min_ms) = time_runs(runs, f);
    let gflops = gflop / (median_ms / 1e3);
    Timing {
        median_ms,
        min_ms,
        gflop,
        gflops,
        fraction_of_peak: gflops / peak,
    }
}

/// Measures the GEMM rate on the products the convolutions do (rows split into one block per
/// thread, the split that reaches the machine's peak), and returns the best GFLOP/s.
pub fn gemm_peak(batch: usize, runs: usize) -> f64 {
    // (rows per image, k, n): conv2/heads forward, conv4 forward, heads' fused first conv.
    let shapes = [(196, 288, 32), (49, 576, 64), (196, 288, 96)];
    let per_task = batch.div_ceil(rayon::current_num_threads());
    shapes
        .iter()
        .map(|&(rows_per_image, k, n)| {
            let m = batch * rows_per_image;
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
            let mut c = vec![0f32; m * n];
            let (median, _) = time_runs(runs, || {
                c.par_chunks_mut(per_task * rows_per_image * n)
                    .zip(a.par_chunks(per_task * rows_per_image * k))
                    .for_each(|(c, a)| {
                        matmul(
                            a.len() / k,
                            n,
                            k,
                            MatRef::rows(a, 0, k),
                            MatRef::rows(&b, 0, n),
                            c,
                            0,
                            n,
                            false,
                        );
                    });
            });
            2.0 * (m * n * k) as f64 / (median / 1e3) / 1e9
        })
        .fold(0.0, f64::max)
}

/// A synthetic batch with the shapes of the real one.
pub fn synthetic_batch(batch: usize, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<f32> = (0..batch * 28 * 28 * 3)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    Batch {
        x: Tensor::from_vec([batch, 28, 28, 3], x),
        labels: (0..batch).map(|i| (i % 10) as u8).collect(),
        bias: (0..batch * 3 * 196)
            .map(|i| if i % 3 == 0 { 255 } else { (i % 8) as u8 })
            .collect(),
    }
}

/// Runs the benchmark of the selected `steps` (all of them when empty).
pub fn run_bench(batch: usize, runs: usize, steps: &[Step]) -> BenchReport {
    let selected = |step: Step| steps.is_empty() || steps.contains(&step);
    let peak = gemm_peak(batch, runs);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut net = ConvNet::new(&mut rng);
    let mut heads = ColorHeads::new(&mut rng);
    let data = synthetic_batch(batch, 1);
    let sgd = paper_sgd(0.001);
    let lntl = LntlConfig::PAPER;
    let b = batch as f64;
    let last = synthetic_batch(TEST_IMAGES % batch, 2);
    let inference = selected(Step::Inference).then(|| {
        timing(
            runs,
            2.0 * TEST_IMAGES as f64 * flops::forward_macs() / 1e9,
            peak,
            || {
                for _ in 0..TEST_IMAGES / batch {
                    net.forward_features(&data.x, false);
                    net.forward_classifier();
                }
                if last.x.batch() > 0 {
                    net.forward_features(&last.x, false);
                    net.forward_classifier();
                }
            },
        )
    });
    let forward = selected(Step::Forward).then(|| {
        timing(runs, 2.0 * b * flops::forward_macs() / 1e9, peak, || {
            net.forward_features(&data.x, false);
            net.forward_classifier();
        })
    });
    let baseline = selected(Step::Baseline).then(|| {
        timing(
            runs,
            2.0 * b * flops::baseline_step_macs() / 1e9,
            peak,
            || {
                baseline_step(&mut net, &data, sgd.lr, &sgd);
            },
        )
    });
    let lntl_timing = selected(Step::Lntl).then(|| {
        timing(runs, 2.0 * b * flops::lntl_step_macs() / 1e9, peak, || {
            lntl_step(
                &mut net,
                &mut heads,
                &data,
                LearningRates::same(sgd.lr),
                &sgd,
                &lntl,
            );
        })
    });
    let median = |t: &Option<Timing>| t.as_ref().map(|t| t.median_ms);
    BenchReport {
        cpu: cpu_description(),
        threads: rayon::current_num_threads(),
        batch,
        runs,
        gemm_peak_gflops: peak,
        forward_ms: median(&forward),
        baseline_step_ms: median(&baseline),
        lntl_step_ms: median(&lntl_timing),
        inference_10k_ms: median(&inference),
        forward,
        baseline_step: baseline,
        lntl_step: lntl_timing,
        inference_10k: inference,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the selected steps are timed and reported; the JSON of a report leaves the others
    /// out, and keeps each selected step's flat median beside its full timing.
    #[test]
    fn only_selected_steps_are_timed() {
        let report = run_bench(2, 1, &[Step::Forward, Step::Lntl]);
        let forward = report.forward.as_ref().expect("forward selected");
        let lntl = report.lntl_step.as_ref().expect("LNTL selected");
        assert!(report.baseline_step.is_none() && report.inference_10k.is_none());
        assert_eq!(report.forward_ms, Some(forward.median_ms));
        assert_eq!(report.lntl_step_ms, Some(lntl.median_ms));
        assert!(forward.median_ms > 0.0 && lntl.min_ms > 0.0 && lntl.min_ms <= lntl.median_ms);
        let json: serde_json::Value = serde_json::to_value(&report).expect("the report serializes");
        let keys: Vec<&str> = json
            .as_object()
            .expect("an object")
            .keys()
            .map(String::as_str)
            .collect();
        for key in ["forward", "forward_ms", "lntl_step", "lntl_step_ms"] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        for key in [
            "baseline_step",
            "baseline_step_ms",
            "inference_10k",
            "inference_10k_ms",
        ] {
            assert!(!keys.contains(&key), "{key} present in {keys:?}");
        }
    }
}
