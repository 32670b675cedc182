//! `lntl train` and `lntl test`.

use super::data::Benchmark;
use super::log;
use super::train_lff::run_train_lff;
use crate::colored::dataset::{parse_variance, variance_tag};
use crate::colored::jitter::JitterRule;
use crate::colored::palette::outside_paper_range;
use crate::methods::batch::ImageMode;
use crate::train::checkpoint::{Trained, load_checkpoint, load_trained};
use crate::train::config::{
    CONFIG_FILE, DatasetChoice, LFF_ADAM, Method, Optimizer, TrainConfig, read_config,
};
use crate::train::confusion::write_confusion;
use crate::train::evaluate::{Evaluation, evaluate, plain_digits_accuracy};
use crate::train::lff_model::LffMethod;
use crate::train::protocol::{Protocol, cell_dir};
use crate::train::rerun;
use crate::train::result::{COMMIT, RESULT_FILE, current_command};
use crate::train::run::{CHECKPOINT_FILE, RunSummary, image_mode, load_dataset, run_title, train};
use crate::train::run_lock::RunLock;
use crate::util::atomic::write_bytes_atomic;
use crate::util::digest::file_sha256;
use crate::util::interrupt::Interrupted;
use anyhow::{Context, Result, bail, ensure};
use clap::{Args, ValueEnum};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Which dataset to use.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// A dataset file: ours (.safetensors) or the authors' mnist_10color_jitter_var_*.npy.
    #[arg(long, conflicts_with_all = ["var", "data_seed", "jitter"])]
    pub data: Option<PathBuf>,
    /// σ² of the generated dataset (built in the cache on first use) [default: 0.020].
    #[arg(long, value_parser = parse_variance)]
    pub var: Option<f64>,
    /// Seed of the generated dataset [default: 0].
    #[arg(long)]
    pub data_seed: Option<u64>,
    /// Jitter rule of the generated dataset [default: reflect].
    #[arg(long, value_enum)]
    pub jitter: Option<JitterRule>,
}

impl DataArgs {
    fn choice(&self) -> Result<DatasetChoice> {
        Ok(match &self.data {
            Some(path) => DatasetChoice::File(
                std::path::absolute(path)
                    .with_context(|| format!("cannot resolve {}", path.display()))?,
            ),
            None => {
                if let Some(warning) = self.var.and_then(outside_paper_range) {
                    eprintln!("{warning}");
                }
                DatasetChoice::Generated {
                    variance: self.var.unwrap_or(0.020),
                    seed: self.data_seed.unwrap_or(0),
                    jitter: self.jitter.unwrap_or_default(),
                }
            }
        })
    }

    /// These flags as they would be typed.
    fn flags(&self) -> String {
        if let Some(path) = &self.data {
            return format!("--data {}", path.display());
        }
        let mut flags = format!("--var {}", variance_tag(self.var.unwrap_or(0.020)));
        if let Some(seed) = self.data_seed {
            flags += &format!(" --data-seed {seed}");
        }
        if let Some(jitter) = self.jitter {
            flags += &format!(" --jitter {}", jitter.name());
        }
        flags
    }

    fn given(&self) -> bool {
        self.data.is_some()
            || self.var.is_some()
            || self.data_seed.is_some()
            || self.jitter.is_some()
    }
}

/// A short name for a dataset, used in default run directory names.
pub fn dataset_tag(choice: &DatasetChoice) -> String {
    match choice {
        DatasetChoice::Generated {
            variance,
            seed,
            jitter,
        } => {
            let rule = match jitter {
                JitterRule::Reflect => String::new(),
                other => format!("_{}", other.name()),
            };
            format!("var{}_seed{seed}{rule}", variance_tag(*variance))
        }
        DatasetChoice::File(path) => path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "data".into()),
    }
}

/// The default run directory of a method on a dataset: `runs/<method>_<dataset>`, or with a
/// protocol the sweep layout `runs/<protocol>/var_<σ²>/<method>/seed_<seed>`.
pub fn default_run_dir(
    method: Method,
    choice: &DatasetChoice,
    protocol: Option<Protocol>,
    seed: u64,
) -> PathBuf {
    match (protocol, choice.variance()) {
        (Some(p), Some(variance)) => {
            cell_dir(&Path::new("runs").join(p.name()), variance, method, seed)
        }
        (Some(p), None) => Path::new("runs")
            .join(p.name())
            .join(dataset_tag(choice))
            .join(method.name())
            .join(format!("seed_{seed}")),
        (None, _) => {
            PathBuf::from("runs").join(format!("{}_{}", method.name(), dataset_tag(choice)))
        }
    }
}

/// `--method`: the methods of both benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodName {
    /// Cross-entropy only (LNTL's benchmark).
    Baseline,
    /// Learning Not to Learn.
    Lntl,
    /// The baseline on gray-scale images (LNTL's benchmark).
    Gray,
    /// BlindEye (LNTL's benchmark).
    Blindeye,
    /// Cross-entropy only (LfF's benchmark).
    Vanilla,
    /// Learning from Failure (on LNTL's benchmark with two of its conv nets).
    Lff,
    /// Online Group DRO over the (digit, color) groups (LfF's benchmark).
    #[value(name = "groupdro")]
    GroupDro,
}

impl MethodName {
    /// The name as typed.
    pub fn name(self) -> &'static str {
        match self {
            MethodName::Baseline => "baseline",
            MethodName::Lntl => "lntl",
            MethodName::Gray => "gray",
            MethodName::Blindeye => "blindeye",
            MethodName::Vanilla => "vanilla",
            MethodName::Lff => "lff",
            MethodName::GroupDro => "groupdro",
        }
    }

    /// The method on LNTL's benchmark, if it is one.
    pub fn on_lntl_benchmark(self) -> Option<Method> {
        match self {
            MethodName::Baseline => Some(Method::Baseline),
            MethodName::Lntl => Some(Method::Lntl),
            MethodName::Gray => Some(Method::Gray),
            MethodName::Blindeye => Some(Method::Blindeye),
            MethodName::Lff => Some(Method::Lff),
            MethodName::Vanilla | MethodName::GroupDro => None,
        }
    }

    /// The method on LfF's benchmark, if it is one.
    pub fn on_lff_benchmark(self) -> Option<LffMethod> {
        match self {
            MethodName::Vanilla => Some(LffMethod::Vanilla),
            MethodName::Lff => Some(LffMethod::Lff),
            MethodName::GroupDro => Some(LffMethod::GroupDro),
            MethodName::Lntl => Some(LffMethod::Lntl),
            MethodName::Baseline | MethodName::Gray | MethodName::Blindeye => None,
        }
    }
}

/// Flags of `lntl train`. Settings left out take the paper's values (docs/SPEC.md §3), or the
/// protocol's, or on `--resume` the stored run's; with `--benchmark lff`, LfF's (docs/LFF.md).
#[derive(Debug, Clone, Args)]
pub struct TrainArgs {
    /// The benchmark: LNTL's σ² Colored-MNIST or LfF's.
    #[arg(long, value_enum, default_value = "lntl")]
    pub benchmark: Benchmark,
    /// Training method [default: lntl; LfF's benchmark: lff].
    #[arg(long, value_enum)]
    pub method: Option<MethodName>,
    /// LfF's benchmark: the fraction of bias-conflicting training digits (0.05, 0.02, 0.01 or
    /// 0.005 in LfF's table).
    #[arg(long, value_parser = parse_conflict_ratio)]
    pub conflict_ratio: Option<f64>,
    /// LfF's benchmark: the color-noise severity, 1 to 5 [default: 4].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=5))]
    pub severity: Option<u8>,
    /// Group DRO: the step size η of the group weights [default: 0.0001].
    #[arg(long, value_parser = positive)]
    pub dro_step_size: Option<f32>,
    /// Dataset.
    #[command(flatten)]
    pub data: DataArgs,
    /// A named protocol that fixes every training setting (see docs/REPRODUCTION.md); LNTL and
    /// BlindEye then warm-start from the baseline run beside theirs (../../baseline/seed_S).
    #[arg(long, value_enum)]
    pub protocol: Option<Protocol>,
    /// Epochs [default: 100]; with --resume, extends the run to this many.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub epochs: Option<u64>,
    /// Batch size [default: 128].
    #[arg(long, value_parser = clap::value_parser!(u64).range(2..=4096))]
    pub batch_size: Option<u64>,
    /// Learning rate [default: 0.01 for baseline and gray, 0.001 for lntl and blindeye].
    #[arg(long, value_parser = positive)]
    pub lr: Option<f32>,
    /// Learning-rate multiplier applied every --lr-decay-period epochs [default: 0.1].
    #[arg(long, value_parser = unit_interval)]
    pub lr_decay_rate: Option<f32>,
    /// Epochs between learning-rate decays [default: 40].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub lr_decay_period: Option<u64>,
    /// SGD momentum [default: 0.9].
    #[arg(long, value_parser = unit_interval)]
    pub momentum: Option<f32>,
    /// The optimizer of LfF's two networks [default: sgd]; adam as LfF's code trains them,
    /// with its defaults: --lr 0.001, --weight-decay 0, no decay of the rate.
    #[arg(long, value_enum)]
    pub optimizer: Option<Optimizer>,
    /// SGD weight decay [default: 5e-4].
    #[arg(long, value_parser = non_negative)]
    pub weight_decay: Option<f32>,
    /// λ: weight of the entropy term (LNTL) or confusion term (BlindEye) [default: 0.01 for
    /// lntl, 10 for blindeye].
    #[arg(long, value_parser = non_negative)]
    pub loss_lambda: Option<f32>,
    /// μ: gradient reversal scale (LNTL) [default: 0.1].
    #[arg(long, value_parser = non_negative)]
    pub grl_scale: Option<f32>,
    /// LNTL as the authors' code ran under PyTorch 0.4: g (the layers after φ) also takes the
    /// phase-2 optimizer step, with a zero gradient (momentum and weight decay alone).
    #[arg(long)]
    pub legacy_zero_grad: bool,
    /// Epochs that train only the color heads first (LNTL, BlindEye) [default: 0].
    #[arg(long)]
    pub heads_warmup_epochs: Option<usize>,
    /// Seed of initialization and shuffling [default: 0].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Warm start from a (baseline) checkpoint: f and g with their optimizer state.
    #[arg(long)]
    pub init_from: Option<PathBuf>,
    /// With --init-from: f and g train their first epoch at the learning rate the checkpoint's
    /// optimizer ended with, as the authors' --use_pretrain does (docs/SPEC.md §3).
    #[arg(long, requires = "init_from")]
    pub init_lr_from_checkpoint: bool,
    /// Run directory [default: runs/<method>_<dataset>, or with --protocol
    /// runs/<protocol>/var_<σ²>/<method>/seed_<seed>].
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Hold out the last 10,000 training images, recolored at random like the test set, and
    /// measure on them instead of the test set (for tuning a protocol without seeing the test).
    #[arg(long)]
    pub validation: bool,
    /// Where the TensorBoard log goes [default: tensorboard/ in the run directory].
    #[arg(long)]
    pub tensorboard_dir: Option<PathBuf>,
    /// Continue the run in --run-dir from its checkpoint, with its stored settings.
    #[arg(long, conflicts_with = "resume_or_start")]
    pub resume: bool,
    /// Bring the run in --run-dir to completion: leave it if it finished (it has result.json),
    /// resume it if it has a checkpoint, start it otherwise (what `lntl sweep` runs per cell).
    #[arg(long)]
    pub resume_or_start: bool,
    /// With --resume-or-start: the run's final checkpoint is needed (runs warm-start from it),
    /// so a finished run whose checkpoint is gone is trained again from scratch, its previous
    /// result kept as result.previous.json until the rerun ends and compared with it then.
    #[arg(long, requires = "resume_or_start")]
    pub ensure_checkpoint: bool,
    /// Train on the first N training images only (0 = all) [default: 0].
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Training images for the color-leakage probe after each epoch (0 = skip it)
    /// [default: 10000].
    #[arg(long)]
    pub leakage_images: Option<usize>,
}

fn parse_conflict_ratio(text: &str) -> Result<f64, String> {
    let v: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("must be a fraction in (0, 1), got {text}"))
    }
}

fn float_in(text: &str, ok: impl Fn(f32) -> bool, what: &str) -> Result<f32, String> {
    let v: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && ok(v) {
        Ok(v)
    } else {
        Err(format!("must be {what}, got {text}"))
    }
}

fn positive(text: &str) -> Result<f32, String> {
    float_in(text, |v| v > 0.0, "a finite number > 0")
}

fn non_negative(text: &str) -> Result<f32, String> {
    float_in(text, |v| v >= 0.0, "a finite number ≥ 0")
}

fn unit_interval(text: &str) -> Result<f32, String> {
    float_in(text, |v| (0.0..=1.0).contains(&v), "a number in [0, 1]")
}

impl TrainArgs {
    /// The method on LNTL's benchmark ([`run_train`] refuses LfF's methods before asking).
    fn method(&self) -> Method {
        self.method
            .and_then(MethodName::on_lntl_benchmark)
            .unwrap_or(Method::Lntl)
    }

    fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }

    /// The run directory these flags name.
    pub fn run_dir(&self) -> Result<PathBuf> {
        Ok(match &self.run_dir {
            Some(dir) => dir.clone(),
            None => default_run_dir(
                self.method(),
                &self.data.choice()?,
                self.protocol,
                self.seed(),
            ),
        })
    }

    /// The training settings given on the command line, by flag name, as text.
    fn given_settings(&self) -> Vec<(&'static str, String)> {
        let text = |v: Option<String>, name| v.map(|v| (name, v));
        [
            text(self.epochs.map(|v| v.to_string()), "--epochs"),
            text(self.batch_size.map(|v| v.to_string()), "--batch-size"),
            text(self.lr.map(|v| v.to_string()), "--lr"),
            text(self.lr_decay_rate.map(|v| v.to_string()), "--lr-decay-rate"),
            text(
                self.lr_decay_period.map(|v| v.to_string()),
                "--lr-decay-period",
            ),
            text(self.momentum.map(|v| v.to_string()), "--momentum"),
            text(
                self.optimizer
                    .and_then(|o| o.to_possible_value())
                    .map(|v| v.get_name().to_string()),
                "--optimizer",
            ),
            text(self.weight_decay.map(|v| v.to_string()), "--weight-decay"),
            text(self.loss_lambda.map(|v| v.to_string()), "--loss-lambda"),
            text(self.grl_scale.map(|v| v.to_string()), "--grl-scale"),
            text(
                self.heads_warmup_epochs.map(|v| v.to_string()),
                "--heads-warmup-epochs",
            ),
            text(self.train_limit.map(|v| v.to_string()), "--train-limit"),
            text(
                self.init_lr_from_checkpoint.then(|| "true".into()),
                "--init-lr-from-checkpoint",
            ),
            text(
                self.legacy_zero_grad.then(|| "true".into()),
                "--legacy-zero-grad",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Applies the flags that change what a run measures and where it logs, not how it trains
    /// (allowed with a protocol).
    fn apply_outputs(&self, config: &mut TrainConfig) -> Result<()> {
        if let Some(v) = self.leakage_images {
            config.leakage_train_images = v;
        }
        if let Some(dir) = &self.tensorboard_dir {
            config.tensorboard_dir = Some(
                std::path::absolute(dir)
                    .with_context(|| format!("cannot resolve {}", dir.display()))?,
            );
        }
        Ok(())
    }

    /// Applies the given flags to `config`.
    fn apply(&self, config: &mut TrainConfig) -> Result<()> {
        if let Some(optimizer) = self.optimizer.filter(|&o| o != config.optimizer) {
            ensure!(
                config.method == Method::Lff,
                "--optimizer chooses the optimizer of LfF's networks; --method {} trains with SGD",
                config.method.name()
            );
            config.optimizer = optimizer;
            if optimizer == Optimizer::Adam {
                config.sgd = LFF_ADAM;
            }
        }
        ensure!(
            config.optimizer == Optimizer::Sgd || self.momentum.is_none(),
            "--momentum is SGD's; Adam has none"
        );
        if let Some(v) = self.epochs {
            config.epochs = v as usize;
        }
        if let Some(v) = self.batch_size {
            config.batch_size = v as usize;
        }
        if let Some(v) = self.lr {
            config.sgd.lr = v;
        }
        if let Some(v) = self.lr_decay_rate {
            config.sgd.decay_rate = v;
        }
        if let Some(v) = self.lr_decay_period {
            config.sgd.decay_period = v as usize;
        }
        if let Some(v) = self.momentum {
            config.sgd.momentum = v;
        }
        if let Some(v) = self.weight_decay {
            config.sgd.weight_decay = v;
        }
        if let Some(v) = self.loss_lambda {
            config.lntl.lambda = v;
        }
        if let Some(v) = self.grl_scale {
            config.lntl.grl_scale = v;
        }
        if self.legacy_zero_grad {
            config.lntl.legacy_zero_grad = true;
        }
        if let Some(v) = self.heads_warmup_epochs {
            config.heads_warmup_epochs = v;
        }
        if let Some(v) = self.train_limit {
            config.train_limit = v;
        }
        self.apply_outputs(config)?;
        if let Some(init) = &self.init_from {
            config.init_from = Some(
                std::path::absolute(init)
                    .with_context(|| format!("cannot resolve {}", init.display()))?,
            );
            if self.init_lr_from_checkpoint {
                config.first_epoch_features_lr = Some(load_checkpoint(init)?.last_lr());
            }
        }
        Ok(())
    }

    /// The configuration of a new run.
    pub fn new_config(&self, run_dir: &Path) -> Result<TrainConfig> {
        let method = self.method();
        let dataset = self.data.choice()?;
        let mut config = match self.protocol {
            Some(protocol) => {
                let fixed: Vec<&str> = self.given_settings().iter().map(|(n, _)| *n).collect();
                ensure!(
                    fixed.is_empty(),
                    "--protocol {} fixes {}; train without --protocol to choose them",
                    protocol.name(),
                    fixed.join(", ")
                );
                let baseline = match &self.init_from {
                    Some(path) => Some(path.clone()),
                    None if protocol.warm_starts(method) => {
                        Some(self.baseline_beside(protocol, run_dir)?)
                    }
                    None => None,
                };
                protocol.config(
                    method,
                    dataset,
                    (self.seed(), self.validation),
                    baseline.as_deref(),
                )?
            }
            None => {
                let mut config = TrainConfig::paper(method, dataset);
                config.seed = self.seed();
                config.validation = self.validation;
                self.apply(&mut config)?;
                config
            }
        };
        self.apply_outputs(&mut config)?;
        if let DatasetChoice::File(path) = &config.dataset {
            config.dataset_sha256 = Some(file_sha256(path)?);
        }
        Ok(config)
    }

    /// The configuration of a resumed run: the stored one, extended to `--epochs` if given.
    /// Any other flag must agree with the stored run.
    pub fn resumed_config(&self, stored: &TrainConfig) -> Result<TrainConfig> {
        let mut wanted = stored.clone();
        let epochs = self.epochs.map(|e| e as usize).unwrap_or(stored.epochs);
        if let Some(protocol) = self.protocol {
            wanted.protocol = Some(protocol.name().into());
        }
        if let Some(method) = self.method.and_then(MethodName::on_lntl_benchmark) {
            wanted.method = method;
        }
        let mut dataset = stored.dataset.clone();
        if self.data.given() {
            wanted.dataset = self.data.choice()?;
            // A dataset file may have moved: training checks its content against the digest.
            if matches!(
                (&wanted.dataset, &stored.dataset),
                (DatasetChoice::File(_), DatasetChoice::File(_))
            ) {
                dataset = wanted.dataset.clone();
                wanted.dataset = stored.dataset.clone();
            }
        }
        if let Some(seed) = self.seed {
            wanted.seed = seed;
        }
        if self.validation {
            wanted.validation = true;
        }
        let without_epochs = TrainArgs {
            epochs: None,
            init_lr_from_checkpoint: false,
            ..self.clone()
        };
        without_epochs.apply(&mut wanted)?;
        wanted.first_epoch_features_lr = stored.first_epoch_features_lr;
        wanted.epochs = stored.epochs;
        wanted.threads = stored.threads;
        let differences = stored.differences(&wanted);
        ensure!(
            differences.is_empty(),
            "these flags disagree with the stored run (stored against given): {}. Resume \
             without them, or start a new run in another --run-dir",
            differences.join("; ")
        );
        if epochs != stored.epochs {
            log(&format!(
                "extending the run from {} to {epochs} epochs",
                stored.epochs
            ));
        }
        Ok(TrainConfig {
            epochs,
            dataset,
            threads: rayon::current_num_threads(),
            ..stored.clone()
        })
    }
}

impl TrainArgs {
    /// The checkpoint of the baseline run beside `run_dir` in a sweep's layout
    /// (`run_dir/../../baseline/<seed dir>/checkpoint.safetensors`), which `protocol` warm-starts
    /// this run from; if it is missing, an error naming the command that trains it.
    fn baseline_beside(&self, protocol: Protocol, run_dir: &Path) -> Result<PathBuf> {
        let seed_dir = run_dir
            .file_name()
            .with_context(|| format!("{}: not a run directory", run_dir.display()))?;
        let grid = std::path::absolute(run_dir)?
            .parent()
            .and_then(Path::parent)
            .map(Path::to_path_buf)
            .with_context(|| format!("{}: no baseline run can sit beside it", run_dir.display()))?;
        let baseline_dir = grid.join("baseline").join(seed_dir);
        let checkpoint = baseline_dir.join(CHECKPOINT_FILE);
        ensure!(
            checkpoint.is_file(),
            "--protocol {p} trains {method} from the finished baseline run of the same data and \
             seed, looked for beside the run directory (as `lntl sweep` lays runs out) at {dir}, \
             which holds no checkpoint. Train it first:\n  lntl train --protocol {p} --method \
             baseline {data} --seed {seed} --run-dir {dir}\nor name a finished baseline run's \
             checkpoint with --init-from",
            p = protocol.name(),
            method = self.method().name(),
            dir = baseline_dir.display(),
            data = self.data.flags(),
            seed = self.seed(),
        );
        Ok(checkpoint)
    }
}

fn print_summary(summary: &RunSummary) {
    let e = &summary.evaluation;
    println!(
        "{:<18} {:.4} ({} images, inference {:.2} s)",
        format!("{} accuracy", summary.evaluated_on),
        e.accuracy,
        e.images,
        e.inference_seconds
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
        println!(
            "color leakage      {leak:.4} (probe heads' per-pixel accuracy on {})",
            summary.evaluated_on
        );
    }
    if let Some(plain) = summary.plain_digits_accuracy {
        println!("plain digits       {plain:.4} (the plain MNIST test digits, test_gray)");
    }
    println!("run directory      {}", summary.run_dir.display());
}

/// Runs `lntl train`.
pub fn run_train(args: &TrainArgs, cache: &Path) -> Result<()> {
    if args.benchmark == Benchmark::Lff {
        return run_train_lff(args, cache);
    }
    if let Some(method) = args.method.filter(|m| m.on_lntl_benchmark().is_none()) {
        bail!(
            "--method {} belongs to LfF's benchmark: add --benchmark lff",
            method.name()
        );
    }
    ensure!(
        args.conflict_ratio.is_none() && args.severity.is_none() && args.dro_step_size.is_none(),
        "--conflict-ratio, --severity and --dro-step-size belong to LfF's benchmark: add \
         --benchmark lff"
    );
    let run_dir = args.run_dir()?;
    // Held until training ends, so that nothing else decides about or writes to the directory.
    let _lock = RunLock::acquire(&run_dir)?;
    if args.resume_or_start && run_dir.join(RESULT_FILE).is_file() {
        if let Some(protocol) = args.protocol {
            let path = run_dir.join(CONFIG_FILE);
            protocol.check_settings(&read_config(&path)?, &path)?;
        }
        let checkpoint_needed = args.ensure_checkpoint && !run_dir.join(CHECKPOINT_FILE).is_file();
        if !checkpoint_needed {
            log(&format!("{} has finished already", run_dir.display()));
            return Ok(());
        }
        rerun::set_aside(&run_dir)?;
        log(&format!(
            "{} has finished but its checkpoint is gone: training it again (its result kept as \
             {} until the rerun ends)",
            run_dir.display(),
            rerun::PREVIOUS_RESULT_FILE
        ));
    }
    let resume = args.resume || (args.resume_or_start && run_dir.join(CHECKPOINT_FILE).is_file());
    let config = if resume {
        let path = run_dir.join(CHECKPOINT_FILE);
        let checkpoint = load_checkpoint(&path).with_context(|| {
            format!(
                "cannot resume: {} has no usable checkpoint",
                run_dir.display()
            )
        })?;
        if let Some(protocol) = args.protocol {
            protocol.check_settings(checkpoint.run_config()?, &path)?;
        }
        args.resumed_config(checkpoint.run_config()?)?
    } else {
        args.new_config(&run_dir)?
    };
    let summary = match train(config, &run_dir, resume, cache, &current_command(), &log) {
        Err(e) if e.is::<Interrupted>() => {
            let next = if run_dir.join(CHECKPOINT_FILE).is_file() {
                format!("lntl train --resume --run-dir {}", run_dir.display())
            } else {
                "the same command".to_string()
            };
            return Err(Interrupted(format!("{e}; resume with: {next}")).into());
        }
        result => result?,
    };
    print_summary(&summary);
    if let Some(verdict) = rerun::finish(&run_dir)? {
        log(&format!("{}: {verdict}", run_dir.display()));
    }
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
    /// Where to write evaluation.json and the confusion matrix [default: test/ beside the
    /// checkpoint, so that a training run's own evaluation is never overwritten].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Training images for the color-leakage probe (0 = skip it).
    #[arg(long, default_value_t = 10_000)]
    pub leakage_images: usize,
    /// Evaluate on the plain MNIST test digits (the authors' `test_gray`: white digits on black)
    /// instead of the colored test set; no color leakage then, since those digits carry no
    /// color. Written to `test_plain/` beside the checkpoint by default.
    #[arg(long)]
    pub plain_digits: bool,
}

/// Runs `lntl test`.
pub fn run_test(args: &TestArgs, cache: &Path) -> Result<()> {
    let Trained {
        path,
        config,
        mut model,
    } = load_trained(&args.checkpoint)?;
    let choice = match (&args.data, &config) {
        (Some(file), _) => DatasetChoice::File(file.clone()),
        (None, Some(config)) => config.dataset.clone(),
        (None, None) => bail!(
            "{}: an authors' checkpoint does not say which data it was trained on; pass --data \
             (their file, e.g. mnist_10color_jitter_var_0.020.npy)",
            path.display()
        ),
    };
    let data = load_dataset(&choice, cache, &log)?;
    // The authors' networks take colored images, as every method here but Gray.
    let mode = config
        .as_ref()
        .map_or(ImageMode::Color, |c| image_mode(c.method));
    let seed = config.as_ref().map_or(0, |c| c.seed);
    let (test, out_name) = if args.plain_digits {
        (Cow::Owned(data.plain_test()), "test_plain")
    } else {
        (Cow::Borrowed(&data.test), "test")
    };
    let evaluation = evaluate(&mut model.net, &test, mode, true);
    let color_leakage = (args.leakage_images > 0 && !args.plain_digits).then(|| {
        crate::train::leakage::color_leakage(
            &mut model.net,
            &data.train,
            &data.test,
            args.leakage_images,
            mode,
            seed,
        )
    });
    let out = args
        .out
        .clone()
        .or_else(|| path.parent().map(|dir| dir.join(out_name)))
        .context("cannot tell where to write the evaluation; pass --out")?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let plain_digits_accuracy =
        (!args.plain_digits).then(|| plain_digits_accuracy(&mut model.net, &data, mode));
    let summary = RunSummary {
        run_dir: out.clone(),
        evaluated_on: "test",
        evaluation,
        color_leakage,
        plain_digits_accuracy,
        train_seconds: 0.0,
    };
    // A test is a result of its own: it records what produced it, as result.json does.
    let mut record = serde_json::to_value(&summary)?;
    record["command"] = current_command().into();
    record["commit"] = COMMIT.into();
    write_bytes_atomic(
        &out.join("evaluation.json"),
        serde_json::to_string_pretty(&record)?.as_bytes(),
    )?;
    let variance = data.variance;
    write_confusion(
        &summary.evaluation.confusion,
        &out,
        &format!(
            "{} · {out_name}: accuracy {:.4}",
            config.as_ref().map_or_else(
                || "the authors' checkpoint".to_string(),
                |c| run_title(c, variance)
            ),
            summary.evaluation.accuracy
        ),
    )?;
    print_summary(&summary);
    print_authors_line(&summary.evaluation);
    Ok(())
}

/// The line the authors' `_validate` logs, in their format, so that their scripts' users find
/// it where they look (`EVALUATION LOSS  %.4f, ACCURACY : %.4f (%d/%d)`).
fn print_authors_line(e: &Evaluation) {
    let correct: u32 = (0..e.confusion.len()).map(|k| e.confusion[k][k]).sum();
    println!(
        "EVALUATION LOSS  {:.4}, ACCURACY : {:.4} ({correct}/{})",
        e.loss, e.accuracy, e.images
    );
}
