//! A training run on LfF's Colored-MNIST (docs/LFF.md §2): the MLP (two for LfF) with Adam at
//! 1e-3, batches of 256 in a fresh shuffle each epoch (the last one smaller, as LfF's loader
//! keeps it: 235 iterations per epoch on 60,000 digits), 100 epochs (LfF's 23,500 steps), the
//! test split's group accuracies after every epoch (LfF evaluates every 235 steps). The run
//! directory holds `config.json`, `metrics.jsonl` (one record per epoch), a checkpoint after every
//! epoch (an interrupted run resumes bit for bit) and `result.json` with the final and the best
//! epoch's accuracies; LfF's table is the final one.

use crate::data::mnist::TRAIN_LEN;
use crate::engine::adam::AdamConfig;
use crate::lff_colored::generate::LffColoredMnist;
use crate::models::mlp::{MLP_INPUTS, mlp_input};
use crate::train::config::CONFIG_FILE;
use crate::train::group_accuracy::{GroupAccuracy, group_counts};
use crate::train::lff_model::{LffMethod, LffModels, LffStepStats, MethodSettings};
use crate::train::metrics_log::{MetricsLog, epoch_records};
use crate::train::progress::Progress;
use crate::train::result::{COMMIT, RESULT_FILE};
use crate::train::run::{CHECKPOINT_FILE, epoch_order, last_good};
use crate::util::atomic::write_bytes_atomic;
use crate::util::cpu::cpu_description;
use crate::util::interrupt::{self, Interrupted};
use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The settings of one run on LfF's benchmark, saved as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LffConfig {
    /// The method.
    pub method: LffMethod,
    /// The fraction of bias-conflicting training digits.
    pub conflict_ratio: f64,
    /// The color-noise severity (LfF's benchmark: 4).
    pub severity: u8,
    /// The seed of the dataset's color noise.
    pub data_seed: u64,
    /// The seed of the initialization and the shuffles.
    pub seed: u64,
    /// Passes over the training digits.
    pub epochs: usize,
    /// Images per iteration.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f32,
    /// Training digits (60,000 but in tests on a slice).
    pub train_images: usize,
    /// Group DRO's step size η for the group weights (Group DRO only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dro_step_size: Option<f32>,
    /// LNTL's λ, the weight of the negative-entropy term (LNTL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_lambda: Option<f32>,
    /// LNTL's μ, the gradient reversal scale (LNTL only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grl_scale: Option<f32>,
    /// Trained on the first 50,000 training digits and measured on the last 10,000, colored
    /// like the test split, for tuning without the test split.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub validation: bool,
}

impl LffConfig {
    /// LfF's schedule for `method` at `conflict_ratio`, severity 4, on the full training split.
    pub fn lff_protocol(method: LffMethod, conflict_ratio: f64, seed: u64) -> LffConfig {
        LffConfig {
            method,
            conflict_ratio,
            severity: 4,
            data_seed: 0,
            seed,
            epochs: 100,
            batch_size: 256,
            lr: 1e-3,
            train_images: TRAIN_LEN,
            dro_step_size: (method == LffMethod::GroupDro)
                .then_some(MethodSettings::DEFAULT.dro_step_size),
            loss_lambda: (method == LffMethod::Lntl).then_some(MethodSettings::DEFAULT.loss_lambda),
            grl_scale: (method == LffMethod::Lntl).then_some(MethodSettings::DEFAULT.grl_scale),
            validation: false,
        }
    }

    /// What the accuracies are measured on: "test", or "validation".
    pub fn evaluated_on(&self) -> &'static str {
        if self.validation {
            "validation"
        } else {
            "test"
        }
    }

    /// The method's own settings, the defaults where the configuration has none.
    pub fn method_settings(&self) -> MethodSettings {
        let default = MethodSettings::DEFAULT;
        MethodSettings {
            dro_step_size: self.dro_step_size.unwrap_or(default.dro_step_size),
            loss_lambda: self.loss_lambda.unwrap_or(default.loss_lambda),
            grl_scale: self.grl_scale.unwrap_or(default.grl_scale),
        }
    }

    /// Iterations per epoch: every batch, the last one possibly smaller.
    pub fn steps_per_epoch(&self) -> usize {
        self.train_images.div_ceil(self.batch_size)
    }
}

/// The directory of one cell of LfF's grid: `<root>/ratio_<r>/<method>/seed_<seed>`.
pub fn lff_cell_dir(root: &Path, conflict_ratio: f64, method: LffMethod, seed: u64) -> PathBuf {
    root.join(format!("ratio_{conflict_ratio}"))
        .join(method.name())
        .join(format!("seed_{seed}"))
}

/// What a finished run wrote to `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LffResult {
    /// Always "lff": tells these results from the σ² benchmark's.
    pub benchmark: String,
    /// The method's name.
    pub method: String,
    /// The fraction of bias-conflicting training digits.
    pub conflict_ratio: f64,
    /// The color-noise severity.
    pub severity: u8,
    /// The training seed.
    pub seed: u64,
    /// The dataset's seed.
    pub data_seed: u64,
    /// Epochs trained.
    pub epochs: usize,
    /// Iterations trained.
    pub steps: usize,
    /// The final model's accuracies (what LfF's table reports).
    #[serde(rename = "final")]
    pub final_accuracy: GroupAccuracy,
    /// The best epoch's accuracies by unbiased accuracy (chosen on the test split, so not a
    /// fair number; shown because later papers report it).
    pub best: GroupAccuracy,
    /// The epoch of `best`.
    pub best_epoch: usize,
    /// Training and evaluation time over all invocations, seconds.
    pub seconds: f64,
    /// The CPU it ran on.
    pub cpu: String,
    /// The command that produced it.
    pub command: String,
    /// The commit of the binary.
    pub commit: String,
    /// What the accuracies were measured on: "test", or "validation" (held-out training
    /// digits).
    #[serde(default = "on_test")]
    pub evaluated_on: String,
}

fn on_test() -> String {
    "test".into()
}

fn interrupted(epoch: usize, config: &LffConfig, checkpoint: &Path) -> anyhow::Error {
    Interrupted(format!(
        "interrupted in epoch {} of {}; {}",
        epoch + 1,
        config.epochs,
        last_good(checkpoint)
    ))
    .into()
}

/// Running sums of one epoch's training measurements.
#[derive(Debug, Default)]
struct EpochSums {
    loss: f64,
    biased_loss: f64,
    mean_weight: f64,
    regularizer: f64,
    color_loss: f64,
    color_correct: usize,
    correct: usize,
    images: usize,
    steps: usize,
}

impl EpochSums {
    fn add(&mut self, stats: LffStepStats, images: usize) -> Result<()> {
        let (loss, correct) = match stats {
            LffStepStats::Classifier(s) => (s.loss, s.correct),
            LffStepStats::Lff(s) => {
                ensure!(
                    s.biased_loss.is_finite(),
                    "the biased model's loss is not finite"
                );
                self.biased_loss += f64::from(s.biased_loss);
                self.mean_weight += f64::from(s.mean_weight);
                (s.debiased_loss, s.correct)
            }
            LffStepStats::Lntl(s) => {
                ensure!(
                    s.regularizer.is_finite() && s.color_loss.is_finite(),
                    "the color head's loss is not finite"
                );
                self.regularizer += f64::from(s.regularizer);
                self.color_loss += f64::from(s.color_loss);
                self.color_correct += s.color_correct;
                (s.classifier.loss, s.classifier.correct)
            }
        };
        ensure!(loss.is_finite(), "the loss is not finite");
        self.loss += f64::from(loss);
        self.correct += correct;
        self.images += images;
        self.steps += 1;
        Ok(())
    }
}

/// Trains `config` on `data` in `run_dir` and writes its `result.json`, naming `command` as the
/// command that produced it; with `resume`, continues from the run directory's checkpoint, whose
/// stored configuration must equal `config` but for the epoch count.
pub fn train_lff(
    config: &LffConfig,
    data: &LffColoredMnist,
    run_dir: &Path,
    resume: bool,
    command: &str,
    log: &dyn Fn(&str),
) -> Result<LffResult> {
    let train = &data.train;
    ensure!(
        train.len() == config.train_images,
        "the training split has {} digits, the configuration {}",
        train.len(),
        config.train_images
    );
    ensure!(
        config.epochs > 0 && config.batch_size > 0,
        "a run needs at least one epoch and one image per batch"
    );
    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);
    let config_path = run_dir.join(CONFIG_FILE);
    let metrics_path = run_dir.join("metrics.jsonl");
    let steps_per_epoch = config.steps_per_epoch();
    let adam = AdamConfig::pytorch(config.lr);
    let colors = train
        .color_classes
        .as_ref()
        .context("the training split does not record each image's color")?;
    let mut models = LffModels::new(
        config.method,
        config.seed,
        &train.labels,
        adam,
        config.method_settings(),
    );
    let mut epochs_done = 0;
    let mut seconds = 0.0;
    let mut metrics = if resume {
        let text = std::fs::read_to_string(&config_path)
            .with_context(|| format!("cannot resume: {} is missing", config_path.display()))?;
        let stored: LffConfig = serde_json::from_str(&text).with_context(|| {
            format!("{}: not an LfF run's configuration", config_path.display())
        })?;
        ensure!(
            LffConfig {
                epochs: config.epochs,
                ..stored
            } == *config,
            "{}: the run was made with other settings; resume it with the stored ones",
            config_path.display()
        );
        let steps = models.load(&checkpoint_path)?;
        ensure!(
            steps % steps_per_epoch == 0 && steps / steps_per_epoch <= config.epochs,
            "{}: {steps} iterations done, not a whole number of epochs up to {}",
            checkpoint_path.display(),
            config.epochs
        );
        epochs_done = steps / steps_per_epoch;
        let records = epoch_records(&metrics_path)?;
        // The time up to the checkpoint's epoch, as its record logged it.
        seconds = epochs_done
            .checked_sub(1)
            .and_then(|last| records.get(last))
            .and_then(|r| r["seconds"].as_f64())
            .unwrap_or(0.0);
        log(&format!(
            "resuming {} after epoch {epochs_done} of {}",
            run_dir.display(),
            config.epochs
        ));
        MetricsLog::resume(&metrics_path, epochs_done)?
    } else {
        if checkpoint_path.exists() {
            bail!(
                "{} holds a run already; resume it with --resume or choose another --out",
                run_dir.display()
            );
        }
        write_bytes_atomic(
            &config_path,
            (serde_json::to_string_pretty(config)? + "\n").as_bytes(),
        )?;
        let _ = std::fs::remove_file(&metrics_path);
        MetricsLog::open(&metrics_path)?
    };

    let mut images = Vec::with_capacity(config.batch_size * MLP_INPUTS);
    let mut labels = Vec::with_capacity(config.batch_size);
    let mut batch_colors = Vec::with_capacity(config.batch_size);
    for epoch in epochs_done..config.epochs {
        let started = Instant::now();
        let order = epoch_order(config.seed, epoch, train.len());
        let mut sums = EpochSums::default();
        let mut progress = Progress::new(
            &format!("epoch {}/{}", epoch + 1, config.epochs),
            steps_per_epoch as u64,
        );
        for indices in order.chunks(config.batch_size) {
            if interrupt::requested() {
                progress.finish();
                return Err(interrupted(epoch, config, &checkpoint_path));
            }
            images.clear();
            labels.clear();
            batch_colors.clear();
            for &i in indices {
                images.extend_from_slice(&train.images[i * MLP_INPUTS..(i + 1) * MLP_INPUTS]);
                labels.push(train.labels[i]);
                batch_colors.push(colors[i]);
            }
            let stats = models.step(&mlp_input(&images), &labels, &batch_colors, indices);
            sums.add(stats, indices.len()).with_context(|| {
                format!(
                    "epoch {}: training stopped; the last good checkpoint is {}",
                    epoch + 1,
                    checkpoint_path.display()
                )
            })?;
            progress.step(|| format!("loss {:.4}", sums.loss / sums.steps as f64));
        }
        progress.finish();
        let test = group_counts(models.classifier(), &data.test)?.accuracy();
        seconds += started.elapsed().as_secs_f64();
        let steps = sums.steps as f64;
        let mut record = json!({
            "epoch": epoch + 1,
            "step": (epoch + 1) * steps_per_epoch,
            "train_loss": sums.loss / steps,
            "train_accuracy": sums.correct as f64 / sums.images as f64,
            "unbiased_accuracy": test.unbiased_accuracy,
            "aligned_accuracy": test.aligned_accuracy,
            "conflicting_accuracy": test.conflicting_accuracy,
            "seconds": seconds,
        });
        if let LffModels::Lff(lff) = &mut models {
            let biased = group_counts(&mut lff.biased, &data.test)?.accuracy();
            record["biased_loss"] = json!(sums.biased_loss / steps);
            record["mean_weight"] = json!(sums.mean_weight / steps);
            record["biased_unbiased_accuracy"] = json!(biased.unbiased_accuracy);
            record["biased_conflicting_accuracy"] = json!(biased.conflicting_accuracy);
        }
        if let LffModels::Lntl(_) = models {
            record["regularizer"] = json!(sums.regularizer / steps);
            record["color_loss"] = json!(sums.color_loss / steps);
            record["color_accuracy"] = json!(sums.color_correct as f64 / sums.images as f64);
        }
        metrics.write(&record)?;
        models.save(&checkpoint_path, (epoch + 1) * steps_per_epoch)?;
        log(&format!(
            "epoch {}/{}: unbiased {:.4} (aligned {:.4}, conflicting {:.4})",
            epoch + 1,
            config.epochs,
            test.unbiased_accuracy,
            test.aligned_accuracy,
            test.conflicting_accuracy
        ));
    }
    let result = lff_result(config, &metrics_path, seconds, command)?;
    write_bytes_atomic(
        &run_dir.join(RESULT_FILE),
        (serde_json::to_string_pretty(&result)? + "\n").as_bytes(),
    )?;
    Ok(result)
}

/// The result of a run whose every epoch is in `metrics_path`.
fn lff_result(
    config: &LffConfig,
    metrics_path: &Path,
    seconds: f64,
    command: &str,
) -> Result<LffResult> {
    let records = epoch_records(metrics_path)?;
    let accuracy = |r: &serde_json::Value| -> Result<GroupAccuracy> {
        serde_json::from_value(r.clone())
            .with_context(|| format!("{}: a record without accuracies", metrics_path.display()))
    };
    ensure!(
        records.len() == config.epochs,
        "{}: {} epochs logged, {} trained",
        metrics_path.display(),
        records.len(),
        config.epochs
    );
    let mut best = (0, accuracy(&records[0])?);
    for (i, r) in records.iter().enumerate() {
        let a = accuracy(r)?;
        if a.unbiased_accuracy > best.1.unbiased_accuracy {
            best = (i, a);
        }
    }
    Ok(LffResult {
        benchmark: "lff".into(),
        method: config.method.name().into(),
        conflict_ratio: config.conflict_ratio,
        severity: config.severity,
        seed: config.seed,
        data_seed: config.data_seed,
        epochs: config.epochs,
        steps: config.epochs * config.steps_per_epoch(),
        final_accuracy: accuracy(records.last().expect("at least one epoch"))?,
        best: best.1,
        best_epoch: best.0 + 1,
        seconds,
        cpu: cpu_description(),
        command: command.into(),
        commit: COMMIT.into(),
        evaluated_on: config.evaluated_on().into(),
    })
}
