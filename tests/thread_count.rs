//! Results do not depend on the thread count: a few iterations of every method on a small slice
//! of real Colored-MNIST give byte-identical checkpoints and metrics with 1, 2, 3 and 5 threads,
//! and `lntl test` (accuracy and color leakage) prints the same numbers with 1 and 3 threads.
//! Every sum in the engine runs over tasks of a fixed size combined in a fixed order
//! (docs/ARCHITECTURE.md, "Determinism"); a split that follows the core count fails here.

mod common;
#[path = "common/lntl_command.rs"]
mod lntl_command;
use lntl_command::lntl_ok;

use lntl::data::cache::cache_dir;
use lntl::train::checkpoint::load_checkpoint;
use lntl::train::config::{DatasetChoice, Method, TrainConfig};
use lntl::train::metrics_log::epoch_records;
use lntl::train::run::{CHECKPOINT_FILE, train};
use serde_json::Value;
use std::path::{Path, PathBuf};

const THREADS: [usize; 4] = [1, 2, 3, 5];
/// 600 training images: four batches of 128 and a last one of 88, so a short final batch is
/// covered.
const TRAIN_IMAGES: usize = 600;
/// Test images, few enough that the 16 runs' evaluations stay quick; 1000 is not a multiple of
/// the evaluation batch either.
const TEST_IMAGES: usize = 1000;

fn config(method: Method, dataset: &Path, init_from: Option<PathBuf>) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        leakage_train_images: 256,
        init_from,
        ..TrainConfig::paper(method, DatasetChoice::File(dataset.to_path_buf()))
    }
}

/// Runs `work` on a pool of `threads` workers.
fn with_threads<T: Send>(threads: usize, work: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(work)
}

/// Trains one epoch of `method` on `dataset` in `dir` with `threads` workers.
fn train_with(
    threads: usize,
    method: Method,
    dataset: &Path,
    init_from: Option<PathBuf>,
    dir: &Path,
) {
    with_threads(threads, || {
        train(
            config(method, dataset, init_from),
            dir,
            false,
            &cache_dir(None),
            "test",
            &|_: &str| {},
        )
        .expect("training runs")
    });
}

/// The numbers a run logged: every epoch record and the final evaluation, without timings or
/// the run's directory.
fn logged_numbers(dir: &Path) -> Vec<Value> {
    let mut records = epoch_records(&dir.join("metrics.jsonl")).unwrap();
    let mut evaluation: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("evaluation.json")).unwrap())
            .unwrap();
    evaluation.as_object_mut().unwrap().remove("run_dir");
    records.push(evaluation);
    records.iter().map(without_timings).collect()
}

/// `value` without the keys that hold wall-clock times.
fn without_timings(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(key, _)| !key.contains("seconds"))
                .map(|(key, v)| (key.clone(), without_timings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_method_computes_the_same_bits_with_1_2_3_and_5_threads() {
    let root = tempfile::tempdir().unwrap();
    let dataset = common::small_dataset(root.path(), TRAIN_IMAGES, TEST_IMAGES);
    let dir = |method: Method, threads: usize| {
        root.path()
            .join(format!("{}_{threads}_threads", method.name()))
    };
    for &threads in &THREADS {
        for method in [Method::Baseline, Method::Gray, Method::Lff] {
            train_with(threads, method, &dataset, None, &dir(method, threads));
        }
        // LNTL and BlindEye warm-start from the baseline trained with the same thread count,
        // as the protocols run them.
        let baseline = dir(Method::Baseline, threads).join(CHECKPOINT_FILE);
        for method in [Method::Lntl, Method::Blindeye] {
            train_with(
                threads,
                method,
                &dataset,
                Some(baseline.clone()),
                &dir(method, threads),
            );
        }
    }
    for method in [
        Method::Baseline,
        Method::Gray,
        Method::Lntl,
        Method::Blindeye,
        Method::Lff,
    ] {
        let reference = dir(method, 1);
        let tensors = load_checkpoint(&reference.join(CHECKPOINT_FILE))
            .unwrap()
            .file
            .tensors;
        let numbers = logged_numbers(&reference);
        assert!(
            numbers[0]["color_leakage"].as_f64().is_some(),
            "{}: the probe ran every epoch",
            method.name()
        );
        for &threads in &THREADS[1..] {
            let other = dir(method, threads);
            let other_tensors = load_checkpoint(&other.join(CHECKPOINT_FILE))
                .unwrap()
                .file
                .tensors;
            for (name, tensor) in &tensors {
                assert!(
                    other_tensors.get(name) == Some(tensor),
                    "{} with {threads} threads: tensor {name} differs from 1 thread",
                    method.name()
                );
            }
            assert_eq!(tensors.len(), other_tensors.len());
            assert_eq!(
                numbers,
                logged_numbers(&other),
                "{} with {threads} threads: logged numbers",
                method.name()
            );
        }
    }

    // `lntl test` on the LNTL checkpoint: accuracy, confusion and leakage probe.
    let run = dir(Method::Lntl, 1);
    let tested = |threads: usize| {
        lntl_ok([
            "--threads",
            &threads.to_string(),
            "test",
            "--checkpoint",
            run.to_str().unwrap(),
            "--leakage-images",
            "512",
            "--data",
            dataset.to_str().unwrap(),
        ]);
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("test/evaluation.json")).unwrap(),
        )
        .unwrap();
        let numbers = [
            without_timings(&record["evaluation"]),
            record["color_leakage"].clone(),
            record["plain_digits_accuracy"].clone(),
        ];
        assert!(numbers.iter().all(|v| !v.is_null()), "{record}");
        numbers
    };
    let one = tested(1);
    assert_eq!(one, tested(3), "lntl test with 1 and 3 threads");
}
