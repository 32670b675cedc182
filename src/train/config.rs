//! The resolved configuration of a training run, saved as `config.json` in the run directory.

use crate::engine::sgd::SgdConfig;
use crate::methods::lntl::LntlConfig;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The methods of the paper's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Cross-entropy only.
    Baseline,
    /// Learning Not to Learn (the paper's method).
    Lntl,
    /// The baseline on gray-scale images.
    Gray,
    /// BlindEye (Alvi et al., 2018).
    Blindeye,
}

impl Method {
    /// Whether the method trains the color heads.
    pub fn uses_heads(self) -> bool {
        matches!(self, Method::Lntl | Method::Blindeye)
    }

    /// The authors' default learning rate: 0.01 for the baseline (and Gray), 0.001 for LNTL.
    pub fn default_lr(self) -> f32 {
        match self {
            Method::Baseline | Method::Gray => 0.01,
            Method::Lntl | Method::Blindeye => 0.001,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Baseline => "baseline",
            Method::Lntl => "lntl",
            Method::Gray => "gray",
            Method::Blindeye => "blindeye",
        }
    }
}

/// Which dataset a run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DatasetChoice {
    /// The cached dataset for (σ², seed), generated on first use.
    Generated {
        /// σ².
        variance: f64,
        /// Generator seed.
        seed: u64,
    },
    /// A dataset file (ours, or the authors' `.npy`).
    File(PathBuf),
}

/// Everything that determines a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The method.
    pub method: Method,
    /// The dataset.
    pub dataset: DatasetChoice,
    /// Use only the first this-many training images (0 = all); for quick runs and tests.
    pub train_limit: usize,
    /// Epochs.
    pub epochs: usize,
    /// Batch size.
    pub batch_size: usize,
    /// Optimizer and schedule.
    pub sgd: SgdConfig,
    /// λ and μ (LNTL); λ is also BlindEye's confusion weight.
    pub lntl: LntlConfig,
    /// Epochs at the start that train only the heads on frozen features (LNTL, BlindEye).
    pub heads_warmup_epochs: usize,
    /// Seed of initialization and shuffling.
    pub seed: u64,
    /// Worker threads (recorded; results are bit-identical only for the same count).
    pub threads: usize,
    /// Warm start: the f, g weights (and their optimizer state) of this checkpoint.
    pub init_from: Option<PathBuf>,
    /// Training images for the color-leakage probe (0 disables it).
    pub leakage_train_images: usize,
}
