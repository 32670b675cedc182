//! A training run: `runs/<name>/` with `config.json`, `checkpoint.safetensors` (written
//! atomically after every epoch), `metrics.jsonl`, TensorBoard events, and at the end
//! `evaluation.json`, `confusion.csv` and `confusion.png`.

use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::colored::locate::{load_or_generate, read_dataset_file};
use crate::methods::baseline::{ClassifierStep, baseline_step};
use crate::methods::batch::{Batch, ImageMode};
use crate::methods::blindeye::blindeye_step;
use crate::methods::lntl::{AdversarialLosses, ColorStep, color_phase, lntl_step};
use crate::train::checkpoint::{Restore, load_checkpoint, restore, save_checkpoint};
use crate::train::config::{DatasetChoice, Method, TrainConfig};
use crate::train::confusion::write_confusion;
use crate::train::evaluate::{Evaluation, evaluate};
use crate::train::leakage::color_leakage;
use crate::train::metrics_log::MetricsLog;
use crate::train::model::Model;
use crate::train::progress::Progress;
use crate::train::tensorboard::EventWriter;
use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result, bail, ensure};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// File name of the latest checkpoint in a run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// Loads the dataset a configuration names.
pub fn load_dataset(
    choice: &DatasetChoice,
    cache: &Path,
    log: &dyn Fn(&str),
) -> Result<ColoredMnist> {
    match choice {
        DatasetChoice::Generated { variance, seed } => {
            load_or_generate(cache, *variance, *seed, log)
        }
        DatasetChoice::File(path) => read_dataset_file(path),
    }
}

/// The image mode a method trains and tests on.
pub fn image_mode(method: Method) -> ImageMode {
    if method == Method::Gray {
        ImageMode::Gray
    } else {
        ImageMode::Color
    }
}

/// The order of the training images in `epoch`: a Fisher–Yates shuffle from (seed, epoch), so
/// that a resumed run replays exactly the order an uninterrupted one uses.
pub fn epoch_order(seed: u64, epoch: usize, len: usize) -> Vec<usize> {
    let mut rng =
        ChaCha8Rng::seed_from_u64(seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    order
}

/// Running means over an epoch.
#[derive(Debug, Default, Clone, Copy, Serialize)]
struct EpochStats {
    classification: f64,
    regularizer: f64,
    bias: f64,
    correct: usize,
    images: usize,
    color_correct: usize,
    color_labelled: usize,
    batches: usize,
}

impl EpochStats {
    fn add(
        &mut self,
        classifier: ClassifierStep,
        regularizer: f32,
        color: ColorStep,
        images: usize,
    ) {
        self.classification += f64::from(classifier.loss);
        self.regularizer += f64::from(regularizer);
        self.bias += f64::from(color.loss);
        self.color_correct += color.correct;
        self.color_labelled += color.labelled;
        self.correct += classifier.correct;
        self.images += images;
        self.batches += 1;
    }

    fn mean(&self, sum: f64) -> f64 {
        sum / self.batches.max(1) as f64
    }
}

/// One iteration of `config.method` on `batch`; returns (classifier step, regularizer, color step).
fn train_step(
    model: &mut Model,
    config: &TrainConfig,
    batch: &Batch,
    lr: f32,
    epoch: usize,
) -> (ClassifierStep, f32, ColorStep) {
    let sgd = &config.sgd;
    match config.method {
        Method::Baseline | Method::Gray => (
            baseline_step(&mut model.net, batch, lr, sgd),
            0.0,
            ColorStep::default(),
        ),
        Method::Lntl | Method::Blindeye if epoch < config.heads_warmup_epochs => {
            let color = color_phase(&mut model.net, &mut model.heads, batch, lr, sgd, None);
            (ClassifierStep::default(), 0.0, color)
        }
        Method::Lntl => {
            let l: AdversarialLosses = lntl_step(
                &mut model.net,
                &mut model.heads,
                batch,
                lr,
                sgd,
                &config.lntl,
            );
            (l.classifier, l.regularizer, l.color)
        }
        Method::Blindeye => {
            let l = blindeye_step(
                &mut model.net,
                &mut model.heads,
                batch,
                lr,
                sgd,
                config.lntl.lambda,
            );
            (l.classifier, l.regularizer, l.color)
        }
    }
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Test-set evaluation of the final weights.
    pub evaluation: Evaluation,
    /// Per-pixel accuracy of probe color heads on the final features (if measured).
    pub color_leakage: Option<f64>,
    /// Wall time of the training epochs of this invocation, seconds.
    pub train_seconds: f64,
}

/// Trains `config` in `run_dir`. With `resume`, continues from the run directory's checkpoint
/// (its stored configuration wins, except the epoch count, which may be raised).
pub fn train(
    mut config: TrainConfig,
    run_dir: &Path,
    resume: bool,
    cache: &Path,
    log: &dyn Fn(&str),
) -> Result<RunSummary> {
    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);
    let mut model = Model::new(config.seed);
    let mut start_epoch = 0;
    if resume {
        let mut checkpoint = load_checkpoint(&checkpoint_path).with_context(|| {
            format!(
                "cannot resume: {} has no usable checkpoint",
                run_dir.display()
            )
        })?;
        let epochs = config.epochs;
        config = checkpoint.config.clone();
        config.epochs = epochs.max(config.epochs);
        restore(&mut checkpoint, &mut model, Restore::Everything)?;
        start_epoch = checkpoint.epochs_done;
        log(&format!(
            "resuming {} after epoch {start_epoch}",
            run_dir.display()
        ));
    } else {
        ensure!(
            !checkpoint_path.exists(),
            "{} already holds a run; pass --resume to continue it or choose another --run-dir",
            run_dir.display()
        );
        if let Some(init) = &config.init_from {
            let mut checkpoint = load_checkpoint(init)?;
            restore(&mut checkpoint, &mut model, Restore::Features)?;
            log(&format!("warm start from {}", init.display()));
        }
    }
    // The dataset is loaded before anything is written, so a bad dataset leaves no run behind.
    let data = load_dataset(&config.dataset, cache, log)?;
    write_bytes_atomic(
        &run_dir.join("config.json"),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    let limited;
    let train_split = if config.train_limit > 0 && config.train_limit < data.train.len() {
        limited = data.train.first(config.train_limit);
        &limited
    } else {
        &data.train
    };
    ensure!(
        train_split.len() >= 2,
        "the training set needs at least 2 images"
    );
    let mode = image_mode(config.method);
    let mut metrics = MetricsLog::open(&run_dir.join("metrics.jsonl"))?;
    let mut events = EventWriter::create(&run_dir.join("tensorboard"))?;
    let started = Instant::now();
    for epoch in start_epoch..config.epochs {
        let lr = config.sgd.lr_at(epoch);
        let warmup = config.method.uses_heads() && epoch < config.heads_warmup_epochs;
        let order = epoch_order(config.seed, epoch, train_split.len());
        let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
        let mut stats = EpochStats::default();
        let mut progress = Progress::new(
            &format!("epoch {}/{}", epoch + 1, config.epochs),
            batches.len() as u64,
        );
        for indices in batches {
            let batch = Batch::from_split(train_split, indices, mode);
            let (classifier, regularizer, color) =
                train_step(&mut model, &config, &batch, lr, epoch);
            if ![classifier.loss, regularizer, color.loss]
                .iter()
                .all(|v| v.is_finite())
            {
                let kept = if checkpoint_path.exists() {
                    format!("the last good checkpoint is {}", checkpoint_path.display())
                } else {
                    "no checkpoint had been written yet".to_string()
                };
                bail!(
                    "non-finite loss in epoch {} (classification {}, regularizer {}, bias {}); training \
                     stopped and {kept}",
                    epoch + 1,
                    classifier.loss,
                    regularizer,
                    color.loss
                );
            }
            // Heads-only warm-up epochs classify nothing.
            let classified = if warmup { 0 } else { indices.len() };
            stats.add(classifier, regularizer, color, classified);
            progress.step(|| {
                format!(
                    "loss {:.4} acc {:.3}",
                    stats.mean(stats.classification),
                    stats.correct as f64 / stats.images.max(1) as f64
                )
            });
        }
        progress.finish();
        let test_accuracy = evaluate(&mut model.net, &data.test, mode, false).accuracy;
        let train_accuracy = stats.correct as f64 / stats.images.max(1) as f64;
        // The heads' per-pixel accuracy on the training batches, for methods that train heads.
        let color_accuracy = (stats.color_labelled > 0)
            .then(|| stats.color_correct as f64 / stats.color_labelled as f64);
        let record = json!({
            "epoch": epoch + 1,
            "lr": lr,
            "loss_classification": stats.mean(stats.classification),
            "loss_regularizer": stats.mean(stats.regularizer),
            "loss_bias": stats.mean(stats.bias),
            "train_accuracy": train_accuracy,
            "test_accuracy": test_accuracy,
            "color_head_accuracy": color_accuracy,
            "seconds": started.elapsed().as_secs_f64(),
        });
        metrics.write(&record)?;
        let step = (epoch + 1) as u64;
        events.scalar(
            "loss/classification",
            step,
            stats.mean(stats.classification) as f32,
        )?;
        if config.method.uses_heads() {
            events.scalar(
                "loss/regularizer",
                step,
                stats.mean(stats.regularizer) as f32,
            )?;
            events.scalar("loss/bias", step, stats.mean(stats.bias) as f32)?;
        }
        events.scalar("accuracy/train", step, train_accuracy as f32)?;
        events.scalar("accuracy/test", step, test_accuracy as f32)?;
        if let Some(acc) = color_accuracy {
            events.scalar("accuracy/color_heads", step, acc as f32)?;
        }
        save_checkpoint(&checkpoint_path, &mut model, epoch + 1, &config)?;
        log(&format!(
            "epoch {}/{}: loss {:.4}, train acc {:.4}, test acc {:.4}",
            epoch + 1,
            config.epochs,
            stats.mean(stats.classification),
            train_accuracy,
            test_accuracy
        ));
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let summary = final_evaluation(
        &mut model,
        &config,
        &data,
        train_split,
        run_dir,
        train_seconds,
    )?;
    let step = config.epochs as u64;
    if let Some(leak) = summary.color_leakage {
        events.scalar("color_leakage/probe_accuracy", step, leak as f32)?;
    }
    metrics.write(&json!({ "final": &summary }))?;
    Ok(summary)
}

/// Evaluates the final weights and writes `evaluation.json` and the confusion matrix.
fn final_evaluation(
    model: &mut Model,
    config: &TrainConfig,
    data: &ColoredMnist,
    train_split: &ColoredSplit,
    run_dir: &Path,
    train_seconds: f64,
) -> Result<RunSummary> {
    let mode = image_mode(config.method);
    let evaluation = evaluate(&mut model.net, &data.test, mode, true);
    let color_leakage = (config.leakage_train_images > 0).then(|| {
        color_leakage(
            &mut model.net,
            train_split,
            &data.test,
            config.leakage_train_images,
            mode,
            config.seed,
        )
    });
    let summary = RunSummary {
        run_dir: run_dir.to_path_buf(),
        evaluation,
        color_leakage,
        train_seconds,
    };
    write_bytes_atomic(
        &run_dir.join("evaluation.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_confusion(&summary.evaluation.confusion, run_dir)?;
    Ok(summary)
}
