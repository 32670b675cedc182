//! Runs on LfF's benchmark (docs/LFF.md) on the real MNIST: LfF beats vanilla on the
//! bias-conflicting digits at 1 %, an interrupted run resumes bit for bit, and the thread count
//! changes no bit.

use clap::ValueEnum;
use lntl::data::mnist::{Digits, Mnist, PIXELS};
use lntl::engine::adam::AdamConfig;
use lntl::lff_colored::generate::{LffColoredMnist, generate};
use lntl::models::mlp::{MLP_INPUTS, mlp_input};
use lntl::train::lff_model::{LffMethod, LffModels, MethodSettings};
use lntl::train::lff_run::{LffConfig, LffResult, train_lff};
use lntl::train::metrics_log::epoch_records;
use lntl::train::run::CHECKPOINT_FILE;
use serde_json::Value;
use std::path::Path;

#[path = "common/lntl_command.rs"]
mod lntl_command;
#[path = "common/real_mnist.rs"]
mod real_mnist;
use lntl_command::{lntl_ok, lntl_output};
use real_mnist::real_mnist;

fn first(digits: &Digits, n: usize) -> Digits {
    Digits {
        images: digits.images[..n * PIXELS].to_vec(),
        labels: digits.labels[..n].to_vec(),
    }
}

/// LfF's benchmark at 1 % built on the first `train` training and `test` test digits.
fn slice(train: usize, test: usize) -> LffColoredMnist {
    let mnist = real_mnist();
    let slice = Mnist {
        train: first(&mnist.train, train),
        test: first(&mnist.test, test),
    };
    generate(&slice, 0.01, 4, 0).unwrap()
}

fn config(method: LffMethod, data: &LffColoredMnist, epochs: usize) -> LffConfig {
    LffConfig {
        epochs,
        train_images: data.train.len(),
        ..LffConfig::lff_protocol(method, 0.01, 0)
    }
}

fn run(config: &LffConfig, data: &LffColoredMnist, dir: &Path, resume: bool) -> LffResult {
    train_lff(config, data, dir, resume, "test", &|_| {}).unwrap()
}

/// The metrics records without their wall times.
fn records(dir: &Path) -> Vec<Value> {
    let mut records = epoch_records(&dir.join("metrics.jsonl")).unwrap();
    for r in &mut records {
        r.as_object_mut().unwrap().remove("seconds");
    }
    records
}

/// 1,000 training digits: three batches of 256 and a last one of 232.
#[test]
fn a_resumed_run_and_any_thread_count_give_the_same_bits() {
    let data = slice(1000, 1000);
    for &method in LffMethod::value_variants() {
        let straight = tempfile::tempdir().unwrap();
        run(&config(method, &data, 2), &data, straight.path(), false);

        let resumed = tempfile::tempdir().unwrap();
        run(&config(method, &data, 1), &data, resumed.path(), false);
        run(&config(method, &data, 2), &data, resumed.path(), true);

        let threaded = tempfile::tempdir().unwrap();
        rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap()
            .install(|| run(&config(method, &data, 2), &data, threaded.path(), false));

        let checkpoint = |dir: &Path| std::fs::read(dir.join(CHECKPOINT_FILE)).unwrap();
        for (other, what) in [(&resumed, "resumed"), (&threaded, "3 threads")] {
            assert!(
                checkpoint(straight.path()) == checkpoint(other.path()),
                "{method:?}: the {what} run's checkpoint differs"
            );
            assert_eq!(
                records(straight.path()),
                records(other.path()),
                "{method:?}, {what}"
            );
        }
        assert_eq!(records(straight.path()).len(), 2);
    }
}

/// A checkpoint restores everything a later step reads, also in the middle of an epoch (samples
/// not yet visited keep their first-visit rule): one more step from the restored models equals
/// one more step from the saved ones.
#[test]
fn a_checkpoint_restores_every_state_a_step_reads() {
    let data = slice(600, 10);
    let batch = |range: std::ops::Range<usize>| {
        let indices: Vec<usize> = range.collect();
        let images = &data.train.images
            [indices[0] * MLP_INPUTS..(indices[indices.len() - 1] + 1) * MLP_INPUTS];
        let labels = data.train.labels[indices[0]..=indices[indices.len() - 1]].to_vec();
        let colors = data.train.color_classes.as_ref().unwrap()
            [indices[0]..=indices[indices.len() - 1]]
            .to_vec();
        (mlp_input(images), labels, colors, indices)
    };
    let adam = AdamConfig::pytorch(1e-3);
    let settings = MethodSettings::DEFAULT;
    for &method in LffMethod::value_variants() {
        let mut saved = LffModels::new(method, 7, &data.train.labels, adam, settings);
        for range in [0..200, 200..400] {
            let (x, y, c, i) = batch(range);
            saved.step(&x, &y, &c, &i);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.safetensors");
        saved.save(&path, 2).unwrap();
        let mut restored = LffModels::new(method, 8, &data.train.labels, adam, settings);
        assert_eq!(restored.load(&path).unwrap(), 2);
        // Samples 300..400 were seen, 400..500 were not.
        let (x, y, c, i) = batch(300..500);
        saved.step(&x, &y, &c, &i);
        restored.step(&x, &y, &c, &i);
        let again = dir.path().join("again.safetensors");
        restored.save(&again, 3).unwrap();
        saved.save(&path, 3).unwrap();
        assert!(
            std::fs::read(&path).unwrap() == std::fs::read(&again).unwrap(),
            "{method:?}: the restored models took another step"
        );
    }
}

/// LfF's schedule on the full benchmark at 1 %, cut to 20 epochs (4,700 steps): vanilla has
/// learned the color (conflicting digits about 0.18), LfF's reweighting has lifted the
/// conflicting digits far above it (about 0.41; 0.68 by epoch 43 of the full run).
#[test]
fn lff_beats_vanilla_on_the_conflicting_digits() {
    let data = slice(60_000, 10_000);
    let mut conflicting = Vec::new();
    for method in [LffMethod::Vanilla, LffMethod::Lff] {
        let dir = tempfile::tempdir().unwrap();
        let r = run(&config(method, &data, 20), &data, dir.path(), false);
        eprintln!("{method:?}: {:?}", r.final_accuracy);
        conflicting.push(r.final_accuracy.conflicting_accuracy);
    }
    let (vanilla, lff) = (conflicting[0], conflicting[1]);
    assert!(vanilla < 0.25, "vanilla did not learn the color: {vanilla}");
    assert!(
        lff > 0.3 && lff > vanilla + 0.15,
        "LfF {lff} against vanilla {vanilla} on the conflicting digits"
    );
}

/// `lntl train --benchmark lff --validation` trains on the first 50,000 training digits and
/// says that it measured on validation digits.
#[test]
fn validation_runs_say_what_they_measured_on() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    lntl_ok([
        "train",
        "--benchmark",
        "lff",
        "--method",
        "vanilla",
        "--conflict-ratio",
        "0.01",
        "--validation",
        "--epochs",
        "1",
        "--run-dir",
        run.to_str().unwrap(),
    ]);
    let read = |name: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(run.join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("config.json")["train_images"], 50_000);
    assert_eq!(read("config.json")["validation"], true);
    assert_eq!(read("result.json")["evaluated_on"], "validation");
    assert_eq!(read("result.json")["steps"], 196);
}

/// `--resume --run-dir DIR` continues with the stored settings, `--epochs` extending the run;
/// a flag that changes another setting is refused.
#[test]
fn a_resume_takes_the_stored_settings() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let train = |args: &[&str]| -> Vec<String> {
        [
            "train",
            "--benchmark",
            "lff",
            "--run-dir",
            run.to_str().unwrap(),
        ]
        .iter()
        .chain(args)
        .map(|w| w.to_string())
        .collect()
    };
    lntl_ok(train(&[
        "--method",
        "vanilla",
        "--conflict-ratio",
        "0.01",
        "--epochs",
        "1",
    ]));
    let changed = lntl_output(train(&[
        "--resume",
        "--conflict-ratio",
        "0.05",
        "--epochs",
        "2",
    ]));
    assert!(!changed.status.success());
    assert!(String::from_utf8_lossy(&changed.stderr).contains("other settings"));
    lntl_ok(train(&["--resume", "--epochs", "2"]));
    let result: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap();
    assert_eq!(
        (result["method"].as_str(), result["epochs"].as_u64()),
        (Some("vanilla"), Some(2))
    );
    assert_eq!(records(&run).len(), 2);
}
