//! Checkpoints: safetensors files holding every parameter, its SGD momentum buffer (and, for an
//! LfF run with Adam, its Adam moments), the batch norms' running statistics, the number of
//! finished epochs and the run's configuration.
//! The shuffling RNG needs no state of its own: each epoch's order is derived from
//! (seed, epoch), so resuming at an epoch boundary replays exactly what an uninterrupted run does.
//!
//! The authors' PyTorch checkpoints (`.pth`, either of torch.save's formats) load here too, as
//! f and g with their momentum and the optimizer's next rate, without a run configuration: they
//! can be evaluated and warm-started from, not resumed.

use crate::data::torch_file::{TorchFile, looks_like_torch_file};
use crate::engine::param::Param;
use crate::models::pytorch_import::import_authors_checkpoint;
use crate::train::config::TrainConfig;
use crate::train::lff_model::{put_adam, put_averages, take_adam, take_averages};
use crate::train::model::Model;
use crate::train::run::CHECKPOINT_FILE;
use crate::util::tensor_file::TensorFile;
use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};

const KIND: &str = "lntl-checkpoint";
const VERSION: u32 = 1;
const MOMENTUM_SUFFIX: &str = "#momentum";
/// The prefix of LfF's biased network.
const BIASED: &str = "biased";

fn put_params(file: &mut TensorFile, prefix: &str, params: Vec<&mut Param>) {
    for p in params {
        let name = format!("{prefix}.{}", p.name);
        file.put_f32(&name, &p.dims, &p.value);
        if !p.momentum.is_empty() {
            file.put_f32(&format!("{name}{MOMENTUM_SUFFIX}"), &p.dims, &p.momentum);
        }
    }
}

fn put_stats(file: &mut TensorFile, prefix: &str, stats: Vec<(&'static str, &mut Vec<f32>)>) {
    for (name, values) in stats {
        file.put_f32(&format!("{prefix}.{name}"), &[values.len()], values);
    }
}

fn take_params(
    file: &mut TensorFile,
    prefix: &str,
    params: Vec<&mut Param>,
    momentum: bool,
) -> Result<()> {
    for p in params {
        let name = format!("{prefix}.{}", p.name);
        p.value = file.take_f32(&name, &p.dims)?;
        let key = format!("{name}{MOMENTUM_SUFFIX}");
        p.momentum = if momentum && file.tensors.contains_key(&key) {
            file.take_f32(&key, &p.dims)?
        } else {
            Vec::new()
        };
    }
    Ok(())
}

fn take_stats(
    file: &mut TensorFile,
    prefix: &str,
    stats: Vec<(&'static str, &mut Vec<f32>)>,
) -> Result<()> {
    for (name, values) in stats {
        let len = values.len();
        *values = file.take_f32(&format!("{prefix}.{name}"), &[len])?;
    }
    Ok(())
}

/// f and g (and the heads, if `with_heads`, and LfF's biased network and loss averages, if the
/// model has them) as a checkpoint's tensors.
fn model_tensors(model: &mut Model, with_heads: bool) -> TensorFile {
    let mut file = TensorFile::new(KIND, VERSION);
    put_params(&mut file, "net", model.net.params_mut());
    put_stats(&mut file, "net", model.net.running_stats_mut());
    if with_heads {
        put_params(&mut file, "heads", model.heads.params_mut());
        put_stats(&mut file, "heads", model.heads.running_stats_mut());
    }
    if let Some(lff) = &mut model.lff {
        put_params(&mut file, BIASED, lff.biased.params_mut());
        put_stats(&mut file, BIASED, lff.biased.running_stats_mut());
        put_averages(&mut file, &lff.averages);
        if let Some(adam) = &lff.adam {
            put_adam(&mut file, BIASED, &lff.biased.params_mut(), &adam.biased);
            put_adam(&mut file, "net", &model.net.params_mut(), &adam.debiased);
        }
    }
    file
}

/// Writes a checkpoint atomically.
pub fn save_checkpoint(
    path: &Path,
    model: &mut Model,
    epochs_done: usize,
    config: &TrainConfig,
) -> Result<()> {
    let mut file = model_tensors(model, config.method.uses_heads());
    file.metadata
        .insert("epochs_done".into(), epochs_done.to_string());
    file.metadata
        .insert("config".into(), serde_json::to_string(config)?);
    file.write(path)
}

/// A checkpoint read from disk.
#[derive(Debug)]
pub struct Checkpoint {
    /// The tensors.
    pub file: TensorFile,
    /// Finished epochs.
    pub epochs_done: usize,
    /// The configuration of the lntl run that wrote it; `None` for an authors' `.pth`.
    pub config: Option<TrainConfig>,
    /// The learning rate its optimizer would use next.
    next_lr: f32,
}

/// Whether `path` starts like a PyTorch file (a file that cannot be read is left to the
/// reader that follows to report).
fn is_torch_file(path: &Path) -> bool {
    let mut start = [0u8; 15];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut start))
        .is_ok_and(|n| looks_like_torch_file(&start[..n]))
}

/// Reads an authors' `.pth` (docs/PYTORCH.md): f and g with their momentum, as if lntl had
/// saved them after `step + 1` epochs.
fn load_authors_checkpoint(path: &Path) -> Result<Checkpoint> {
    let torch = TorchFile::read(path)?;
    let mut model = Model::new(0);
    let imported = import_authors_checkpoint(&torch, &mut model.net).with_context(|| {
        format!(
            "{}: not a checkpoint of the authors' trainer",
            path.display()
        )
    })?;
    let mut file = model_tensors(&mut model, false);
    file.path = path.to_path_buf();
    Ok(Checkpoint {
        file,
        epochs_done: imported.step + 1,
        config: None,
        next_lr: imported.next_lr as f32,
    })
}

/// Reads and checks a checkpoint: ours, or an authors' PyTorch `.pth`.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    if is_torch_file(path) {
        return load_authors_checkpoint(path);
    }
    let file = TensorFile::read(path, KIND, VERSION)?;
    let name = path.display();
    let epochs_done = file
        .meta("epochs_done")?
        .parse()
        .with_context(|| format!("{name}: unreadable epoch count"))?;
    let config: TrainConfig = serde_json::from_str(file.meta("config")?)
        .with_context(|| format!("{name}: unreadable configuration"))?;
    Ok(Checkpoint {
        file,
        epochs_done,
        next_lr: config.sgd.lr_at(epochs_done),
        config: Some(config),
    })
}

impl Checkpoint {
    /// The learning rate its optimizer would use next: the schedule's rate after its last
    /// finished epoch, which is what the authors' optimizer state holds when saved (and, for
    /// their `.pth`, what it holds).
    pub fn last_lr(&self) -> f32 {
        self.next_lr
    }

    /// The configuration of the lntl run that wrote it, or an error for an authors' `.pth`,
    /// which records none.
    pub fn run_config(&self) -> Result<&TrainConfig> {
        self.config.as_ref().with_context(|| {
            format!(
                "{}: an authors' PyTorch checkpoint records no lntl run, so it cannot be resumed \
                 or used where a run of ours is needed (evaluate it with lntl test, or warm-start \
                 from it with --init-from)",
                self.file.path.display()
            )
        })
    }
}

/// What to take from a checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    /// Everything: resuming the same run.
    Everything,
    /// f and g with their momentum: a warm start from a baseline run (the authors'
    /// `--use_pretrain --checkpoint`, which loads the network and its optimizer state).
    Features,
    /// Weights and running statistics only: evaluation.
    Weights,
}

/// A run's trained networks, for evaluation or export.
#[derive(Debug)]
pub struct Trained {
    /// The checkpoint file they came from.
    pub path: PathBuf,
    /// The configuration of the run that wrote it; `None` for an authors' `.pth`.
    pub config: Option<TrainConfig>,
    /// f, g and the heads with their weights and running statistics (no momentum).
    pub model: Model,
}

/// Loads the networks of `path`, a checkpoint file or a run directory holding one, into a
/// model of the run's seed ([`Restore::Weights`]).
pub fn load_trained(path: &Path) -> Result<Trained> {
    let path = if path.is_dir() {
        run_checkpoint(path)?
    } else {
        path.to_path_buf()
    };
    let mut checkpoint = load_checkpoint(&path)?;
    let mut model = Model::new(checkpoint.config.as_ref().map_or(0, |c| c.seed));
    restore(&mut checkpoint, &mut model, Restore::Weights)?;
    Ok(Trained {
        path,
        config: checkpoint.config,
        model,
    })
}

/// The checkpoint of run directory `dir`; if it has none, an error naming the run directories
/// below it (a sweep's `var_σ²/METHOD/seed_S`), where the user probably meant to point.
fn run_checkpoint(dir: &Path) -> Result<PathBuf> {
    let file = dir.join(CHECKPOINT_FILE);
    if file.is_file() {
        return Ok(file);
    }
    let mut found = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..4 {
        let mut next = Vec::new();
        for d in &level {
            let Ok(entries) = std::fs::read_dir(d) else {
                continue;
            };
            for entry in entries.flatten().filter(|e| e.path().is_dir()) {
                if entry.path().join(CHECKPOINT_FILE).is_file() {
                    found.push(entry.path());
                }
                next.push(entry.path());
            }
        }
        level = next;
    }
    found.sort();
    anyhow::ensure!(
        !found.is_empty(),
        "{}: no {CHECKPOINT_FILE} here or in the directories below; give a run directory or \
         a checkpoint file",
        dir.display()
    );
    let mut examples: Vec<String> = found
        .iter()
        .take(3)
        .map(|d| d.display().to_string())
        .collect();
    if found.len() > examples.len() {
        examples.push("…".into());
    }
    anyhow::bail!(
        "{} is not a run directory (it has no {CHECKPOINT_FILE}); {} below it: {}",
        dir.display(),
        if found.len() == 1 {
            "one run directory is".to_string()
        } else {
            format!("{} run directories are", found.len())
        },
        examples.join(", ")
    )
}

/// Copies the checkpoint's tensors into `model`.
pub fn restore(checkpoint: &mut Checkpoint, model: &mut Model, what: Restore) -> Result<()> {
    let needs_heads = match what {
        Restore::Everything => checkpoint.run_config()?.method.uses_heads(),
        Restore::Features | Restore::Weights => false,
    };
    let file = &mut checkpoint.file;
    let momentum = what != Restore::Weights;
    take_params(file, "net", model.net.params_mut(), momentum)?;
    take_stats(file, "net", model.net.running_stats_mut())?;
    let has_heads = file.tensors.keys().any(|k| k.starts_with("heads."));
    if has_heads && what != Restore::Features {
        take_params(file, "heads", model.heads.params_mut(), momentum)?;
        take_stats(file, "heads", model.heads.running_stats_mut())?;
    }
    ensure!(
        !needs_heads || has_heads,
        "{}: the checkpoint lacks the color heads its method needs",
        file.path.display()
    );
    if what == Restore::Everything
        && let Some(lff) = &mut model.lff
    {
        take_params(file, BIASED, lff.biased.params_mut(), momentum)?;
        take_stats(file, BIASED, lff.biased.running_stats_mut())?;
        let path = file.path.clone();
        take_averages(file, &mut lff.averages, &path)?;
        if let Some(adam) = &mut lff.adam {
            take_adam(file, BIASED, &lff.biased.params_mut(), &mut adam.biased)?;
            take_adam(file, "net", &model.net.params_mut(), &mut adam.debiased)?;
        }
    }
    Ok(())
}
