//! `result.json`: what a finished run found, in the keys `lntl sweep` and `lntl report` share,
//! with the exact command and the commit that produced it, and the per-epoch curves.

use crate::train::config::{DatasetChoice, TrainConfig};
use crate::train::metrics_log::epoch_records;
use crate::train::run::RunSummary;
use crate::util::atomic::write_bytes_atomic;
use crate::util::cpu::cpu_description;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// File name of a finished run's result.
pub const RESULT_FILE: &str = "result.json";

/// The commit the binary was built from (see `build.rs`).
pub const COMMIT: &str = env!("LNTL_COMMIT");

/// Per-epoch measurements, index 0 = after epoch 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Curves {
    /// Test accuracy (validation accuracy when the run was evaluated on validation digits:
    /// see [`RunResult::evaluated_on`]).
    pub test_accuracy: Vec<f64>,
    /// Test accuracy on bias-aligned digits.
    pub aligned_accuracy: Vec<Option<f64>>,
    /// Test accuracy on bias-conflicting digits.
    pub conflicting_accuracy: Vec<Option<f64>>,
    /// Color leakage of the features.
    pub color_leakage: Vec<Option<f64>>,
    /// Training loss of the classifier.
    pub loss_classification: Vec<f64>,
    /// Training accuracy.
    pub train_accuracy: Vec<f64>,
    /// LNTL's regularizer (the heads' negative entropy) per epoch; 0 for other methods, empty in
    /// results recorded before it was kept.
    #[serde(default)]
    pub loss_regularizer: Vec<f64>,
    /// The color heads' training loss per epoch (as `loss_regularizer`).
    #[serde(default)]
    pub loss_color: Vec<f64>,
    /// The color leakage of features that carry no color (each channel's majority bin), when
    /// measured.
    #[serde(default)]
    pub color_leakage_chance: Option<f64>,
}

/// A finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// σ² of the dataset.
    pub variance: f64,
    /// The method's name.
    pub method: String,
    /// Training seed (initialization and shuffling).
    pub seed: u64,
    /// The protocol's name (`null` for hand-set flags).
    pub protocol: Option<String>,
    /// Epochs trained.
    pub epochs: usize,
    /// Final test accuracy.
    pub test_accuracy: f64,
    /// Final accuracy on bias-aligned test digits.
    pub aligned_accuracy: Option<f64>,
    /// Final accuracy on bias-conflicting test digits.
    pub conflicting_accuracy: Option<f64>,
    /// Final color leakage.
    pub color_leakage: Option<f64>,
    /// Final accuracy on the plain MNIST test digits (the authors' `test_gray`); `null` for
    /// validation runs and runs recorded before it was measured.
    #[serde(default)]
    pub plain_digits_accuracy: Option<f64>,
    /// Training time over every invocation of the run, seconds.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// The CPU of the invocation that finished the run ([`cpu_description`]); `null` for runs
    /// recorded before it was.
    #[serde(default)]
    pub cpu: Option<String>,
    /// The command line of the invocation that finished the run.
    pub command: String,
    /// The commit of the binary that finished the run.
    pub commit: String,
    /// Generator seed of the dataset (`null` for a dataset file).
    pub data_seed: Option<u64>,
    /// Jitter rule of the dataset (`null` for a dataset file).
    pub jitter: Option<String>,
    /// What the accuracies were measured on: `test`, or `validation` (held-out training digits
    /// recolored at random).
    #[serde(default = "test_split")]
    pub evaluated_on: String,
    /// Per-epoch measurements.
    pub curves: Curves,
}

fn test_split() -> String {
    "test".into()
}

impl RunResult {
    /// Test accuracy after `epoch` (1-based), if the run got there.
    pub fn test_accuracy_at(&self, epoch: usize) -> Option<f64> {
        self.curves
            .test_accuracy
            .get(epoch.checked_sub(1)?)
            .copied()
    }
}

fn number(record: &serde_json::Value, key: &str) -> Option<f64> {
    record.get(key).and_then(serde_json::Value::as_f64)
}

/// Reads the curves from the run's `metrics.jsonl`.
pub fn read_curves(run_dir: &Path) -> Result<Curves> {
    let mut c = Curves::default();
    for r in epoch_records(&run_dir.join("metrics.jsonl"))? {
        c.test_accuracy
            .push(number(&r, "test_accuracy").unwrap_or(f64::NAN));
        c.aligned_accuracy.push(number(&r, "aligned_accuracy"));
        c.conflicting_accuracy
            .push(number(&r, "conflicting_accuracy"));
        c.color_leakage.push(number(&r, "color_leakage"));
        c.loss_classification
            .push(number(&r, "loss_classification").unwrap_or(f64::NAN));
        c.train_accuracy
            .push(number(&r, "train_accuracy").unwrap_or(f64::NAN));
        c.loss_regularizer
            .push(number(&r, "loss_regularizer").unwrap_or(f64::NAN));
        // `loss_bias` in logs written before the name changed.
        c.loss_color.push(
            number(&r, "loss_color")
                .or_else(|| number(&r, "loss_bias"))
                .unwrap_or(f64::NAN),
        );
        c.color_leakage_chance = number(&r, "color_leakage_chance").or(c.color_leakage_chance);
    }
    Ok(c)
}

/// Writes `run_dir/result.json` for a finished run.
pub fn write_result(
    run_dir: &Path,
    config: &TrainConfig,
    variance: f64,
    summary: &RunSummary,
    command: &str,
) -> Result<RunResult> {
    let (data_seed, jitter) = match &config.dataset {
        DatasetChoice::Generated { seed, jitter, .. } => {
            (Some(*seed), Some(jitter.name().to_string()))
        }
        DatasetChoice::File(_) => (None, None),
    };
    let e = &summary.evaluation;
    let result = RunResult {
        variance,
        method: config.method.name().to_string(),
        seed: config.seed,
        protocol: config.protocol.clone(),
        epochs: config.epochs,
        test_accuracy: e.accuracy,
        aligned_accuracy: e.bias_aligned_accuracy,
        conflicting_accuracy: e.bias_conflicting_accuracy,
        color_leakage: summary.color_leakage,
        plain_digits_accuracy: summary.plain_digits_accuracy,
        seconds: summary.train_seconds,
        threads: config.threads,
        cpu: Some(cpu_description()),
        command: command.to_string(),
        commit: COMMIT.to_string(),
        data_seed,
        jitter,
        evaluated_on: config.evaluated_on().into(),
        curves: read_curves(run_dir)?,
    };
    write_bytes_atomic(
        &run_dir.join(RESULT_FILE),
        (serde_json::to_string_pretty(&result)? + "\n").as_bytes(),
    )?;
    Ok(result)
}

/// Reads a `result.json`.
pub fn read_result(path: &Path) -> Result<RunResult> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a run result", path.display()))
}

/// The command line of this process, quoted for a POSIX shell where needed.
pub fn current_command() -> String {
    std::env::args()
        .map(|arg| shell_quote(&arg))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `arg` as one POSIX shell word.
pub fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words() {
        assert_eq!(shell_quote("--var=0.020"), "--var=0.020");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn test_accuracy_at_counts_epochs_from_one() {
        let result = RunResult {
            variance: 0.02,
            method: "lntl".into(),
            seed: 0,
            protocol: None,
            epochs: 3,
            test_accuracy: 0.3,
            aligned_accuracy: None,
            conflicting_accuracy: None,
            color_leakage: None,
            plain_digits_accuracy: None,
            seconds: 1.0,
            threads: 1,
            cpu: None,
            command: String::new(),
            commit: String::new(),
            data_seed: None,
            jitter: None,
            evaluated_on: "test".into(),
            curves: Curves {
                test_accuracy: vec![0.1, 0.2, 0.3],
                ..Curves::default()
            },
        };
        assert_eq!(result.test_accuracy_at(0), None);
        assert_eq!(result.test_accuracy_at(1), Some(0.1));
        assert_eq!(result.test_accuracy_at(3), Some(0.3));
        assert_eq!(result.test_accuracy_at(4), None);
    }
}
