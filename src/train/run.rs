//! A training run: `runs/<name>/` with `config.json`, `checkpoint.safetensors` (written
//! atomically after every epoch), `metrics.jsonl` and TensorBoard events (one record, one point
//! per tag, per epoch), and at the end `evaluation.json`, `confusion.csv` and `confusion.png`.

use crate::colored::bias_labels::majority_bin_accuracy;
use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::colored::generate::{VALIDATION_IMAGES, validation_split};
use crate::colored::locate::{load_or_generate, read_dataset_file};
use crate::methods::LearningRates;
use crate::methods::baseline::{ClassifierStep, baseline_step};
use crate::methods::batch::{Batch, ImageMode};
use crate::methods::blindeye::blindeye_step;
use crate::methods::conv_lff::{ConvLffOptimizers, conv_lff_step};
use crate::methods::lff::LffStep;
use crate::methods::lntl::{AdversarialLosses, color_phase, lntl_step};
use crate::train::checkpoint::{Restore, load_checkpoint, restore, save_checkpoint};
use crate::train::config::{CONFIG_FILE, DatasetChoice, Method, TrainConfig};
use crate::train::confusion::write_confusion;
use crate::train::evaluate::{Evaluation, evaluate, plain_digits_accuracy};
use crate::train::figures::write_run_curves;
use crate::train::leakage::color_leakage;
use crate::train::metrics_log::{MetricsLog, epoch_records};
use crate::train::model::Model;
use crate::train::progress::Progress;
use crate::train::result::{read_curves, write_result};
use crate::train::tensorboard::EventWriter;
use crate::util::atomic::write_bytes_atomic;
use crate::util::digest::file_sha256;
use crate::util::interrupt::{self, Interrupted};
use anyhow::{Context, Result, bail, ensure};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::json;
use std::borrow::Cow;
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
        DatasetChoice::Generated {
            variance,
            seed,
            jitter,
        } => load_or_generate(cache, *variance, *seed, *jitter, log),
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
    color: f64,
    correct: usize,
    images: usize,
    color_correct: usize,
    color_labelled: usize,
    biased: f64,
    mean_weight: f64,
    batches: usize,
}

/// What one iteration measured: the losses of LNTL's benchmark's methods (those a method does
/// not have are zero), and LfF's own.
#[derive(Debug, Default, Clone, Copy)]
struct StepLosses {
    losses: AdversarialLosses,
    lff: Option<LffStep>,
}

impl EpochStats {
    fn add(&mut self, step: &StepLosses, images: usize) {
        if let Some(lff) = step.lff {
            self.biased += f64::from(lff.biased_loss);
            self.mean_weight += f64::from(lff.mean_weight);
        }
        let step = &step.losses;
        self.classification += f64::from(step.classifier.loss);
        self.regularizer += f64::from(step.regularizer);
        self.color += f64::from(step.color.loss);
        self.color_correct += step.color.correct;
        self.color_labelled += step.color.labelled;
        self.correct += step.classifier.correct;
        self.images += images;
        self.batches += 1;
    }

    fn mean(&self, sum: f64) -> f64 {
        sum / self.batches.max(1) as f64
    }
}

/// One iteration of `config.method` on `batch`, the training images `indices`.
fn train_step(
    model: &mut Model,
    config: &TrainConfig,
    (batch, indices): (&Batch, &[usize]),
    lr: LearningRates,
    epoch: usize,
) -> Result<StepLosses> {
    let Model { net, heads, lff } = model;
    let sgd = &config.sgd;
    let adversarial = |losses| StepLosses { losses, lff: None };
    Ok(match config.method {
        Method::Baseline | Method::Gray => adversarial(AdversarialLosses {
            classifier: baseline_step(net, batch, lr.features, sgd),
            ..AdversarialLosses::default()
        }),
        Method::Lntl | Method::Blindeye if epoch < config.heads_warmup_epochs => {
            adversarial(AdversarialLosses {
                color: color_phase(net, heads, batch, lr, sgd, None),
                ..AdversarialLosses::default()
            })
        }
        Method::Lntl => adversarial(lntl_step(net, heads, batch, lr, sgd, &config.lntl)),
        Method::Blindeye => adversarial(blindeye_step(
            net,
            heads,
            batch,
            lr,
            sgd,
            config.lntl.lambda,
        )),
        Method::Lff => {
            let lff = lff
                .as_mut()
                .context("an LfF run's model lacks its biased network")?;
            let optimizers = match &mut lff.adam {
                None => ConvLffOptimizers::Sgd {
                    lr: lr.features,
                    config: sgd,
                },
                Some(adam) => ConvLffOptimizers::Adam {
                    lr: lr.features,
                    biased: &mut adam.biased,
                    debiased: &mut adam.debiased,
                },
            };
            let step = conv_lff_step(
                &mut lff.biased,
                net,
                &mut lff.averages,
                (batch, indices),
                optimizers,
            );
            let classifier = ClassifierStep {
                loss: step.debiased_loss,
                correct: step.correct,
            };
            StepLosses {
                losses: AdversarialLosses {
                    classifier,
                    ..AdversarialLosses::default()
                },
                lff: Some(step),
            }
        }
    })
}

/// The outcome of a run.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run directory.
    pub run_dir: PathBuf,
    /// What the evaluation measured: `test`, or `validation` (held-out training digits).
    pub evaluated_on: &'static str,
    /// Evaluation of the final weights.
    pub evaluation: Evaluation,
    /// Per-pixel accuracy of probe color heads on the final features (if measured).
    pub color_leakage: Option<f64>,
    /// Accuracy of the final weights on the plain MNIST test digits (the authors' `test_gray`),
    /// for runs measured on the test set: the measure the paper's Gray row matches
    /// (`docs/REPRODUCTION.md`).
    pub plain_digits_accuracy: Option<f64>,
    /// Training time of the run over all its invocations, seconds.
    pub train_seconds: f64,
}

/// Trains `config` in `run_dir` and writes its `result.json`, naming `command` as the command
/// that produced it. With `resume`, continues from the run directory's checkpoint, whose stored
/// configuration must equal `config` except for the epoch count (which may extend the run) and
/// the thread count.
pub fn train(
    config: TrainConfig,
    run_dir: &Path,
    resume: bool,
    cache: &Path,
    command: &str,
    log: &dyn Fn(&str),
) -> Result<RunSummary> {
    let checkpoint_path = run_dir.join(CHECKPOINT_FILE);
    // The dataset is loaded before anything is written, so a bad dataset leaves no run behind;
    // LfF's model is sized by its training labels.
    let data = load_dataset(&config.dataset, cache, log)?;
    let (train_split, eval_split) = run_splits(&config, &data)?;
    let (train_split, eval_split) = (train_split.as_ref(), eval_split.as_ref());
    let mut model = Model::for_run(&config, &train_split.labels);
    let mut epochs_done = 0;
    if resume {
        let mut checkpoint = load_checkpoint(&checkpoint_path).with_context(|| {
            format!(
                "cannot resume: {} has no usable checkpoint",
                run_dir.display()
            )
        })?;
        let mut stored = TrainConfig {
            epochs: config.epochs,
            threads: config.threads,
            ..checkpoint.run_config()?.clone()
        };
        if stored.dataset != config.dataset || stored.dataset_sha256.is_some() {
            ensure_same_dataset(&stored, &config.dataset)?;
            stored.dataset = config.dataset.clone();
        }
        ensure!(
            stored == config,
            "{}: the run was made with other settings than these; resume it with the stored \
             ones (see its config.json)",
            checkpoint_path.display()
        );
        ensure!(
            config.epochs >= checkpoint.epochs_done,
            "{}: has finished {} epochs, more than the {} asked for",
            checkpoint_path.display(),
            checkpoint.epochs_done,
            config.epochs
        );
        restore(&mut checkpoint, &mut model, Restore::Everything)?;
        epochs_done = checkpoint.epochs_done;
        log(&format!(
            "resuming {} after epoch {} of {}",
            run_dir.display(),
            epochs_done,
            config.epochs
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
    write_bytes_atomic(
        &run_dir.join(CONFIG_FILE),
        serde_json::to_string_pretty(&config)?.as_bytes(),
    )?;
    let metrics_path = run_dir.join("metrics.jsonl");
    // Records past the checkpoint (an interrupted run logs an epoch before saving it) are
    // dropped, and the TensorBoard log is rebuilt from the kept ones, so no epoch appears twice.
    let mut metrics = MetricsLog::resume(&metrics_path, epochs_done)?;
    let events_dir = config
        .tensorboard_dir
        .clone()
        .unwrap_or_else(|| run_dir.join("tensorboard"));
    remove_event_files(&events_dir)?;
    let mut events = EventWriter::create(&events_dir)?;
    let kept = epoch_records(&metrics_path)?;
    for record in &kept {
        log_scalars(&mut events, &config, record)?;
    }
    // Training time over every invocation, carried by the log (not the checkpoint, so that
    // identical runs write identical checkpoints).
    let mut train_seconds = kept
        .last()
        .and_then(|r| r["train_seconds"].as_f64())
        .unwrap_or(0.0);
    let started = Instant::now();
    for epoch in epochs_done..config.epochs {
        let epoch_started = Instant::now();
        let stats = train_epoch(&mut model, &config, train_split, epoch, &checkpoint_path)?;
        ensure_finite_weights(&mut model, epoch, &checkpoint_path)?;
        let mut record = measure_epoch(&mut model, &config, eval_split, train_split, epoch, &stats);
        train_seconds += epoch_started.elapsed().as_secs_f64();
        record["train_seconds"] = json!(train_seconds);
        metrics.write(&record)?;
        log_scalars(&mut events, &config, &record)?;
        write_run_curves(
            run_dir,
            &run_title(&config, data.variance),
            &read_curves(run_dir)?,
        )?;
        save_checkpoint(&checkpoint_path, &mut model, epoch + 1, &config)?;
        log(&format!(
            "epoch {}/{}: loss {:.4}, train acc {:.4}, {} acc {:.4}",
            epoch + 1,
            config.epochs,
            stats.mean(stats.classification),
            record["train_accuracy"].as_f64().unwrap_or(f64::NAN),
            config.evaluated_on(),
            record["test_accuracy"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    log(&format!(
        "trained in {:.1} s ({:.1} s in this invocation)",
        train_seconds,
        started.elapsed().as_secs_f64()
    ));
    let summary = final_evaluation(
        &mut model,
        &config,
        (eval_split, &data),
        train_split,
        run_dir,
        train_seconds,
    )?;
    write_result(run_dir, &config, data.variance, &summary, command)?;
    Ok(summary)
}

/// The images a run trains on (the first `train_limit`; with `validation`, never the last
/// [`VALIDATION_IMAGES`]) and the ones it is measured on (the test split; with `validation`, those
/// held-out digits recolored at random, so the test set stays unseen).
fn run_splits<'d>(
    config: &TrainConfig,
    data: &'d ColoredMnist,
) -> Result<(Cow<'d, ColoredSplit>, Cow<'d, ColoredSplit>)> {
    let (train, eval) = if config.validation {
        ensure!(
            data.train.len() > VALIDATION_IMAGES + 1,
            "validation holds out {VALIDATION_IMAGES} training images; the dataset has {}",
            data.train.len()
        );
        let held_out = validation_split(
            &data.train,
            VALIDATION_IMAGES,
            data.variance,
            data.seed.unwrap_or(0),
            data.jitter.unwrap_or_default(),
        );
        let kept = data.train.first(data.train.len() - VALIDATION_IMAGES);
        (Cow::Owned(kept), Cow::Owned(held_out))
    } else {
        (Cow::Borrowed(&data.train), Cow::Borrowed(&data.test))
    };
    let train = if config.train_limit > 0 && config.train_limit < train.len() {
        Cow::Owned(train.first(config.train_limit))
    } else {
        train
    };
    ensure!(train.len() >= 2, "the training set needs at least 2 images");
    ensure!(!eval.is_empty(), "the dataset's test split is empty");
    Ok((train, eval))
}

/// Accepts `file` as the dataset a resumed run was trained on only if its content has the digest
/// the run recorded (at its old path, or a new one).
fn ensure_same_dataset(stored: &TrainConfig, file: &DatasetChoice) -> Result<()> {
    let (DatasetChoice::File(_), DatasetChoice::File(new)) = (&stored.dataset, file) else {
        bail!("the run was trained on {:?}, not {file:?}", stored.dataset);
    };
    let Some(digest) = &stored.dataset_sha256 else {
        bail!(
            "the run recorded no digest of its dataset, so {} cannot be checked against it",
            new.display()
        );
    };
    ensure!(
        &file_sha256(new)? == digest,
        "{}: not the dataset the run was trained on (its SHA-256 differs)",
        new.display()
    );
    Ok(())
}

/// Removes the TensorBoard event files this program wrote in `dir` (a directory that other
/// programs' logs may share is otherwise left alone).
fn remove_event_files(dir: &Path) -> Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("{}: cannot list", dir.display()))?
            .path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if name.is_some_and(|n| n.starts_with("events.out.tfevents.") && n.ends_with(".lntl")) {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
        }
    }
    Ok(())
}

/// Stops a run whose weights are no longer finite before they are saved, keeping the last good
/// checkpoint (finite losses do not guarantee finite weights after the step that follows).
fn ensure_finite_weights(model: &mut Model, epoch: usize, checkpoint_path: &Path) -> Result<()> {
    let Model { net, heads, lff } = model;
    let biased = lff.as_mut().map(|lff| lff.biased.params_mut());
    let bad = net
        .params_mut()
        .into_iter()
        .chain(heads.params_mut())
        .chain(biased.into_iter().flatten())
        .find(|p| !p.value.iter().all(|v| v.is_finite()))
        .map(|p| p.name.to_string());
    match bad {
        Some(name) => bail!(
            "non-finite weights in {name} after epoch {}; training stopped and {}",
            epoch + 1,
            last_good(checkpoint_path)
        ),
        None => Ok(()),
    }
}

/// What a stopped run leaves: the last good checkpoint, if one was written.
pub(crate) fn last_good(checkpoint_path: &Path) -> String {
    if checkpoint_path.exists() {
        format!("the last good checkpoint is {}", checkpoint_path.display())
    } else {
        "no checkpoint had been written yet".to_string()
    }
}

/// One pass over the training images in `epoch`'s order; stops with an error at a non-finite
/// loss (the last checkpoint stays the last good one).
fn train_epoch(
    model: &mut Model,
    config: &TrainConfig,
    train_split: &ColoredSplit,
    epoch: usize,
    checkpoint_path: &Path,
) -> Result<EpochStats> {
    let rates = config.learning_rates(epoch);
    let mode = image_mode(config.method);
    let warmup = config.method.uses_heads() && epoch < config.heads_warmup_epochs;
    let order = epoch_order(config.seed, epoch, train_split.len());
    let batches: Vec<&[usize]> = order.chunks(config.batch_size).collect();
    let mut stats = EpochStats::default();
    let mut progress = Progress::new(
        &format!("epoch {}/{}", epoch + 1, config.epochs),
        batches.len() as u64,
    );
    for indices in batches {
        if interrupt::requested() {
            progress.finish();
            return Err(Interrupted(format!(
                "interrupted in epoch {} of {}; {}",
                epoch + 1,
                config.epochs,
                last_good(checkpoint_path)
            ))
            .into());
        }
        let batch = Batch::from_split(train_split, indices, mode);
        let outcome = train_step(model, config, (&batch, indices), rates, epoch)?;
        let biased_loss = outcome.lff.map_or(0.0, |s| s.biased_loss);
        let step = &outcome.losses;
        if ![
            step.classifier.loss,
            step.regularizer,
            step.color.loss,
            biased_loss,
        ]
        .iter()
        .all(|v| v.is_finite())
        {
            bail!(
                "non-finite loss in epoch {} (classification {}, regularizer {}, color heads {}, \
                 LfF's biased network {}); training stopped and {}",
                epoch + 1,
                step.classifier.loss,
                step.regularizer,
                step.color.loss,
                biased_loss,
                last_good(checkpoint_path)
            );
        }
        // Heads-only warm-up epochs classify nothing.
        let classified = if warmup { 0 } else { indices.len() };
        stats.add(&outcome, classified);
        progress.step(|| {
            format!(
                "loss {:.4} acc {:.3}",
                stats.mean(stats.classification),
                stats.correct as f64 / stats.images.max(1) as f64
            )
        });
    }
    progress.finish();
    Ok(stats)
}

/// The record of one finished epoch in `metrics.jsonl`: its losses and training accuracy, and
/// the test set's accuracy (overall, bias-aligned, bias-conflicting) and the features' color
/// leakage after it.
fn measure_epoch(
    model: &mut Model,
    config: &TrainConfig,
    eval_split: &ColoredSplit,
    train_split: &ColoredSplit,
    epoch: usize,
    stats: &EpochStats,
) -> serde_json::Value {
    let mode = image_mode(config.method);
    let rates = config.learning_rates(epoch);
    let test = evaluate(&mut model.net, eval_split, mode, false);
    let leakage = measure_leakage(model, config, train_split, eval_split);
    // The heads' per-pixel accuracy on the training batches, for methods that train heads.
    let color_accuracy = (stats.color_labelled > 0)
        .then(|| stats.color_correct as f64 / stats.color_labelled as f64);
    let mut record = json!({
        "epoch": epoch + 1,
        "lr": rates.features,
        "lr_heads": rates.heads,
        "loss_classification": stats.mean(stats.classification),
        "loss_regularizer": stats.mean(stats.regularizer),
        "loss_color": stats.mean(stats.color),
        "train_accuracy": stats.correct as f64 / stats.images.max(1) as f64,
        "test_accuracy": test.accuracy,
        "aligned_accuracy": test.bias_aligned_accuracy,
        "conflicting_accuracy": test.bias_conflicting_accuracy,
        "color_leakage": leakage,
        "color_leakage_chance": leakage.map(|_| majority_bin_accuracy(eval_split)),
        "color_head_accuracy": color_accuracy,
    });
    // LfF's own measures, in its runs only, so that the other methods' records keep their shape.
    if config.method == Method::Lff {
        record["loss_biased"] = json!(stats.mean(stats.biased));
        record["mean_weight"] = json!(stats.mean(stats.mean_weight));
    }
    record
}

/// The features' color leakage, probed with the run's first training images and measured on
/// `eval_split` (`None` when the run skips the probe).
fn measure_leakage(
    model: &mut Model,
    config: &TrainConfig,
    train_split: &ColoredSplit,
    eval_split: &ColoredSplit,
) -> Option<f64> {
    (config.leakage_train_images > 0).then(|| {
        color_leakage(
            &mut model.net,
            train_split,
            eval_split,
            config.leakage_train_images,
            image_mode(config.method),
            config.seed,
        )
    })
}

/// Writes an epoch's record to TensorBoard.
fn log_scalars(
    events: &mut EventWriter,
    config: &TrainConfig,
    record: &serde_json::Value,
) -> Result<()> {
    let step = record["epoch"].as_u64().unwrap_or(0);
    let mut tags = vec![
        ("loss/classification", "loss_classification"),
        ("accuracy/train", "train_accuracy"),
        ("accuracy/test", "test_accuracy"),
        ("accuracy/test_bias_aligned", "aligned_accuracy"),
        ("accuracy/test_bias_conflicting", "conflicting_accuracy"),
        ("color_leakage/probe_accuracy", "color_leakage"),
        ("color_leakage/chance", "color_leakage_chance"),
        ("accuracy/color_heads", "color_head_accuracy"),
    ];
    if config.method.uses_heads() {
        tags.extend([
            ("loss/regularizer", "loss_regularizer"),
            ("loss/color_heads", "loss_color"),
        ]);
    }
    for (tag, key) in tags {
        if let Some(value) = record[key].as_f64() {
            events.scalar(tag, step, value as f32)?;
        }
    }
    Ok(())
}

/// A figure title for a run: `lntl · σ² = 0.020 · seed 0 · paper`.
pub fn run_title(config: &TrainConfig, variance: f64) -> String {
    let mut title = format!(
        "{} · σ² = {} · seed {}",
        config.method.name(),
        crate::colored::dataset::variance_tag(variance),
        config.seed
    );
    if let Some(protocol) = &config.protocol {
        title += &format!(" · {protocol}");
    }
    title
}

/// Evaluates the final weights on `eval_split` (and, for a run measured on the test set, on
/// `data`'s plain test digits) and writes `evaluation.json` and the confusion matrix.
fn final_evaluation(
    model: &mut Model,
    config: &TrainConfig,
    (eval_split, data): (&ColoredSplit, &ColoredMnist),
    train_split: &ColoredSplit,
    run_dir: &Path,
    train_seconds: f64,
) -> Result<RunSummary> {
    let mode = image_mode(config.method);
    let evaluation = evaluate(&mut model.net, eval_split, mode, true);
    let color_leakage = measure_leakage(model, config, train_split, eval_split);
    let plain_digits_accuracy =
        (!config.validation).then(|| plain_digits_accuracy(&mut model.net, data, mode));
    let summary = RunSummary {
        run_dir: run_dir.to_path_buf(),
        evaluated_on: config.evaluated_on(),
        evaluation,
        color_leakage,
        plain_digits_accuracy,
        train_seconds,
    };
    write_bytes_atomic(
        &run_dir.join("evaluation.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_confusion(
        &summary.evaluation.confusion,
        run_dir,
        &format!(
            "{}: {} accuracy {:.4}",
            run_title(config, data.variance),
            config.evaluated_on(),
            summary.evaluation.accuracy
        ),
    )?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_epoch_shuffles_all_images_anew_and_reproducibly() {
        let orders: Vec<Vec<usize>> = (0..3).map(|epoch| epoch_order(7, epoch, 1000)).collect();
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
            assert_ne!(order, &sorted, "shuffled");
        }
        assert_ne!(orders[0], orders[1], "epochs 1 and 2 differ");
        assert_ne!(orders[1], orders[2], "epochs 2 and 3 differ");
        assert_ne!(orders[0], epoch_order(8, 0, 1000), "the seed matters");
        assert_eq!(
            orders[1],
            epoch_order(7, 1, 1000),
            "a resume replays the order"
        );
    }
}
