//! `lntl train` and `lntl test`.

use super::log;
use crate::colored::dataset::variance_tag;
use crate::engine::sgd::SgdConfig;
use crate::methods::lntl::LntlConfig;
use crate::train::checkpoint::{Restore, load_checkpoint, restore};
use crate::train::config::{DatasetChoice, Method, TrainConfig};
use crate::train::confusion::write_confusion;
use crate::train::evaluate::evaluate;
use crate::train::model::Model;
use crate::train::run::{CHECKPOINT_FILE, RunSummary, image_mode, load_dataset, train};
use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result, ensure};
use clap::Args;
use std::path::{Path, PathBuf};

/// Which dataset to use.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// A dataset file: ours (.safetensors) or the authors' mnist_10color_jitter_var_*.npy.
    #[arg(long, conflicts_with = "var")]
    pub data: Option<PathBuf>,
    /// σ² of the generated dataset (built in the cache on first use).
    #[arg(long, default_value_t = 0.020)]
    pub var: f64,
    /// Seed of the generated dataset.
    #[arg(long, default_value_t = 0)]
    pub data_seed: u64,
}

impl DataArgs {
    fn choice(&self) -> DatasetChoice {
        match &self.data {
            Some(path) => DatasetChoice::File(path.clone()),
            None => DatasetChoice::Generated {
                variance: self.var,
                seed: self.data_seed,
            },
        }
    }
}

/// A short name for a dataset, used in default run directory names.
pub fn dataset_tag(choice: &DatasetChoice) -> String {
    match choice {
        DatasetChoice::Generated { variance, seed } => {
            format!("var{}_seed{seed}", variance_tag(*variance))
        }
        DatasetChoice::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into()),
    }
}

/// The default run directory of a method on a dataset: `runs/<method>_<dataset>`.
pub fn default_run_dir(method: Method, choice: &DatasetChoice) -> PathBuf {
    PathBuf::from("runs").join(format!("{}_{}", method.name(), dataset_tag(choice)))
}

/// Flags of `lntl train`.
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// Training method.
    #[arg(long, value_enum, default_value_t = Method::Lntl)]
    pub method: Method,
    /// Dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// Epochs.
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    /// Batch size.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Learning rate [default: 0.01 for baseline and gray, 0.001 for lntl and blindeye].
    #[arg(long)]
    pub lr: Option<f32>,
    /// Learning-rate multiplier applied every --lr-decay-period epochs.
    #[arg(long, default_value_t = 0.1)]
    pub lr_decay_rate: f32,
    /// Epochs between learning-rate decays.
    #[arg(long, default_value_t = 40)]
    pub lr_decay_period: usize,
    /// SGD momentum.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// SGD weight decay.
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// λ: weight of the entropy term (LNTL) or confusion term (BlindEye).
    #[arg(long, default_value_t = 0.01)]
    pub loss_lambda: f32,
    /// μ: gradient reversal scale (LNTL).
    #[arg(long, default_value_t = 0.1)]
    pub grl_scale: f32,
    /// Epochs that train only the color heads first (LNTL, BlindEye).
    #[arg(long, default_value_t = 0)]
    pub heads_warmup_epochs: usize,
    /// Seed of initialization and shuffling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Warm start from a (baseline) checkpoint: f and g with their optimizer state.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// Run directory [default: runs/<method>_<dataset>].
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Continue the run in --run-dir from its checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Train on the first N training images only (0 = all).
    #[arg(long, default_value_t = 0)]
    pub train_limit: usize,
    /// Training images for the color-leakage probe at the end (0 = skip it).
    #[arg(long, default_value_t = 10_000)]
    pub leakage_images: usize,
}

impl TrainArgs {
    /// The run configuration these flags describe.
    pub fn config(&self) -> TrainConfig {
        TrainConfig {
            method: self.method,
            dataset: self.data.choice(),
            train_limit: self.train_limit,
            epochs: self.epochs,
            batch_size: self.batch_size,
            sgd: SgdConfig {
                lr: self.lr.unwrap_or(self.method.default_lr()),
                momentum: self.momentum,
                weight_decay: self.weight_decay,
                decay_rate: self.lr_decay_rate,
                decay_period: self.lr_decay_period,
            },
            lntl: LntlConfig {
                lambda: self.loss_lambda,
                grl_scale: self.grl_scale,
            },
            heads_warmup_epochs: self.heads_warmup_epochs,
            seed: self.seed,
            threads: rayon::current_num_threads(),
            init_from: self.init_from.clone(),
            leakage_train_images: self.leakage_images,
        }
    }
}

fn print_summary(summary: &RunSummary) {
    let e = &summary.evaluation;
    println!(
        "test accuracy      {:.4} ({} images, inference {:.2} s)",
        e.accuracy, e.images, e.inference_seconds
    );
    if let (Some(a), Some(c)) = (e.bias_aligned_accuracy, e.bias_conflicting_accuracy) {
        println!("bias-aligned       {a:.4}\nbias-conflicting   {c:.4}");
    }
    let per_class: Vec<String> = e
        .per_class_accuracy
        .iter()
        .map(|a| format!("{a:.3}"))
        .collect();
    println!("per class          {}", per_class.join(" "));
    if let Some(leak) = summary.color_leakage {
        println!("color leakage      {leak:.4} (probe heads' per-pixel accuracy on test)");
    }
    println!("run directory      {}", summary.run_dir.display());
}

/// Runs `lntl train`.
pub fn run_train(args: &TrainArgs, cache: &Path) -> Result<()> {
    ensure!(
        args.batch_size >= 2,
        "--batch-size must be at least 2 (batch norm needs two images)"
    );
    ensure!(args.epochs >= 1, "--epochs must be at least 1");
    let config = args.config();
    let run_dir = args
        .run_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(args.method, &config.dataset));
    let summary = train(config, &run_dir, args.resume, cache, &log)?;
    print_summary(&summary);
    Ok(())
}

/// Flags of `lntl test`.
#[derive(Debug, Clone, Args)]
pub struct TestArgs {
    /// Checkpoint to evaluate (a file, or a run directory holding checkpoint.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset [default: the one the checkpoint was trained on].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to write evaluation.json and the confusion matrix [default: beside the checkpoint].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training images for the color-leakage probe (0 = skip it).
    #[arg(long, default_value_t = 10_000)]
    pub leakage_images: usize,
}

/// Runs `lntl test`.
pub fn run_test(args: &TestArgs, cache: &Path) -> Result<()> {
    let path = if args.checkpoint.is_dir() {
        args.checkpoint.join(CHECKPOINT_FILE)
    } else {
        args.checkpoint.clone()
    };
    let mut checkpoint = load_checkpoint(&path)?;
    let config = checkpoint.config.clone();
    let mut model = Model::new(config.seed);
    restore(&mut checkpoint, &mut model, Restore::Weights)?;
    let choice = args
        .data
        .clone()
        .map(DatasetChoice::File)
        .unwrap_or(config.dataset.clone());
    let data = load_dataset(&choice, cache, &log)?;
    let mode = image_mode(config.method);
    let evaluation = evaluate(&mut model.net, &data.test, mode, true);
    let color_leakage = (args.leakage_images > 0).then(|| {
        crate::train::leakage::color_leakage(
            &mut model.net,
            &data.train,
            &data.test,
            args.leakage_images,
            mode,
            config.seed,
        )
    });
    let out = args
        .out
        .clone()
        .or_else(|| path.parent().map(Path::to_path_buf))
        .context("cannot tell where to write the evaluation; pass --out")?;
    let summary = RunSummary {
        run_dir: out.clone(),
        evaluation,
        color_leakage,
        train_seconds: 0.0,
    };
    write_bytes_atomic(
        &out.join("evaluation.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    write_confusion(&summary.evaluation.confusion, &out)?;
    print_summary(&summary);
    Ok(())
}
