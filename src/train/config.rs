//! The resolved configuration of a training run, saved as `config.json` in the run directory.

use crate::colored::jitter::JitterRule;
use crate::engine::sgd::SgdConfig;
use crate::methods::LearningRates;
use crate::methods::lntl::LntlConfig;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
    /// Learning from Failure (Nam et al., 2020) with two of the paper's networks: reads no
    /// color label (docs/LFF.md).
    Lff,
}

impl Method {
    /// The methods of the paper's table, in its order.
    pub const ALL: [Method; 4] = [
        Method::Baseline,
        Method::Blindeye,
        Method::Gray,
        Method::Lntl,
    ];

    /// Whether the method trains the color heads.
    pub fn uses_heads(self) -> bool {
        matches!(self, Method::Lntl | Method::Blindeye)
    }

    /// The authors' default learning rate: 0.01 for the baseline (and Gray, and LfF, whose
    /// networks also start from scratch), 0.001 for LNTL.
    pub fn default_lr(self) -> f32 {
        match self {
            Method::Baseline | Method::Gray | Method::Lff => 0.01,
            Method::Lntl | Method::Blindeye => 0.001,
        }
    }

    /// The default λ: for LNTL the paper's entropy weight, 0.01 (docs/SPEC.md §3); for BlindEye
    /// the confusion weight, which neither paper publishes, chosen on validation digits as
    /// [`BLINDEYE_CONFUSION_WEIGHT`]. The other methods do not read it.
    pub fn default_loss_lambda(self) -> f32 {
        match self {
            Method::Blindeye => BLINDEYE_CONFUSION_WEIGHT,
            Method::Baseline | Method::Gray | Method::Lntl | Method::Lff => {
                LntlConfig::PAPER.lambda
            }
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Baseline => "baseline",
            Method::Lntl => "lntl",
            Method::Gray => "gray",
            Method::Blindeye => "blindeye",
            Method::Lff => "lff",
        }
    }
}

/// The optimizer of a run's networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// SGD with momentum and weight decay, as the paper trains every network.
    #[default]
    Sgd,
    /// Adam, as LfF's code trains its networks (PyTorch's β and ε; the settings' rate, schedule
    /// and L2 weight decay; no momentum): LfF on LNTL's benchmark only.
    Adam,
}

/// The rate and schedule of LfF's code (docs/LFF.md): Adam at 0.001, no weight decay and no
/// decay of the rate (Adam has no momentum; the period is never reached at a rate of 1).
pub const LFF_ADAM: SgdConfig = SgdConfig {
    lr: 0.001,
    momentum: 0.0,
    weight_decay: 0.0,
    decay_rate: 1.0,
    decay_period: 40,
};

/// BlindEye's confusion weight: the best of 0.01, 0.1, 1, 10 and 100 on validation digits
/// under the fast schedule at σ² = 0.020 (`docs/REPRODUCTION.md`, BlindEye). LNTL's λ = 0.01
/// leaves BlindEye's features almost as colored as the baseline's; at 100 the classifier
/// collapses to one class. Provisional: over `paper`'s 100 epochs BlindEye at 10 peaks early and
/// then decays, so the weight is still to be chosen per protocol.
pub const BLINDEYE_CONFUSION_WEIGHT: f32 = 10.0;

/// Which dataset a run uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DatasetChoice {
    /// The cached dataset for (σ², seed), generated on first use.
    Generated {
        /// σ².
        variance: f64,
        /// Generator seed.
        seed: u64,
        /// How jittered channels are kept in [0, 1]. Runs recorded before the rule was a choice
        /// used clipping.
        #[serde(default = "clipped")]
        jitter: JitterRule,
    },
    /// A dataset file (ours, or the authors' `.npy`).
    File(PathBuf),
}

fn clipped() -> JitterRule {
    JitterRule::Clip
}

impl DatasetChoice {
    /// σ² of a generated dataset (`None` for a file, whose σ² is known only once it is read).
    pub fn variance(&self) -> Option<f64> {
        match self {
            DatasetChoice::Generated { variance, .. } => Some(*variance),
            DatasetChoice::File(_) => None,
        }
    }
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
    /// The optimizer's rate, schedule, momentum (SGD only) and weight decay.
    pub sgd: SgdConfig,
    /// The optimizer (SGD unless an LfF run chose Adam; runs recorded before it was a choice
    /// used SGD).
    #[serde(default)]
    pub optimizer: Optimizer,
    /// λ and μ (LNTL); λ is also BlindEye's confusion weight.
    pub lntl: LntlConfig,
    /// Epochs at the start that train only the heads on frozen features (LNTL, BlindEye).
    pub heads_warmup_epochs: usize,
    /// Seed of initialization and shuffling.
    pub seed: u64,
    /// Worker threads (recorded; results are the same bits for any count).
    pub threads: usize,
    /// Warm start: the f, g weights (and their optimizer state) of this checkpoint.
    pub init_from: Option<PathBuf>,
    /// The learning rate of f and g in the first epoch, when it is not the schedule's: the
    /// authors' warm start restores the baseline optimizer's last rate, which holds until the
    /// scheduler's first step (docs/SPEC.md §3).
    #[serde(default)]
    pub first_epoch_features_lr: Option<f32>,
    /// The named protocol this run follows (`None` for hand-set flags).
    #[serde(default)]
    pub protocol: Option<String>,
    /// Training images for the color-leakage probe (0 disables it).
    pub leakage_train_images: usize,
    /// Hold out the last 10,000 training images, recolored at random like the test set, train
    /// on the rest and measure on them: for choosing a protocol without looking at the test set.
    #[serde(default)]
    pub validation: bool,
    /// SHA-256 of the dataset file, for a dataset given as a file: a resume may then name the
    /// file at a new path, if its content is the same.
    #[serde(default)]
    pub dataset_sha256: Option<String>,
    /// Where the TensorBoard log goes (`None`: `tensorboard/` in the run directory).
    #[serde(default)]
    pub tensorboard_dir: Option<PathBuf>,
}

/// The paper's optimizer (docs/SPEC.md §3) at base rate `lr`: SGD momentum 0.9, weight decay 5e-4,
/// the rate × 0.1 every 40 epochs.
pub const fn paper_sgd(lr: f32) -> SgdConfig {
    SgdConfig {
        lr,
        momentum: 0.9,
        weight_decay: 5e-4,
        decay_rate: 0.1,
        decay_period: 40,
    }
}

/// File name of a run's configuration in its run directory.
pub const CONFIG_FILE: &str = "config.json";

/// Reads a run's `config.json`.
pub fn read_config(path: &Path) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not a run configuration", path.display()))
}

/// Training images of the color-leakage probe, unless a run asks otherwise.
pub const LEAKAGE_TRAIN_IMAGES: usize = 10_000;

impl TrainConfig {
    /// The paper's settings (docs/SPEC.md §3) for `method` on `dataset`: 100 epochs, batch 128,
    /// [`paper_sgd`] at the method's rate, the method's λ ([`Method::default_loss_lambda`]),
    /// μ = 0.1, seed 0, no warm start.
    pub fn paper(method: Method, dataset: DatasetChoice) -> TrainConfig {
        TrainConfig {
            method,
            dataset,
            train_limit: 0,
            epochs: 100,
            batch_size: 128,
            sgd: paper_sgd(method.default_lr()),
            optimizer: Optimizer::Sgd,
            lntl: LntlConfig {
                lambda: method.default_loss_lambda(),
                ..LntlConfig::PAPER
            },
            heads_warmup_epochs: 0,
            seed: 0,
            threads: rayon::current_num_threads(),
            init_from: None,
            first_epoch_features_lr: None,
            protocol: None,
            leakage_train_images: LEAKAGE_TRAIN_IMAGES,
            validation: false,
            tensorboard_dir: None,
            dataset_sha256: None,
        }
    }

    /// What the run's accuracies are measured on: `"test"` or `"validation"`.
    pub fn evaluated_on(&self) -> &'static str {
        if self.validation {
            "validation"
        } else {
            "test"
        }
    }

    /// The settings in which `self` and `other` differ, one `key: A against B` each (A is
    /// `self`'s value, as JSON).
    pub fn differences(&self, other: &TrainConfig) -> Vec<String> {
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
            (serde_json::to_value(self), serde_json::to_value(other))
        else {
            return vec!["the configurations cannot be compared".into()];
        };
        a.iter()
            .filter(|(key, value)| b.get(*key) != Some(value))
            .map(|(key, value)| match b.get(key) {
                Some(given) => format!("{key}: {value} against {given}"),
                None => format!("{key}: {value} against none"),
            })
            .collect()
    }

    /// The learning rates of `epoch` (0-based): the step schedule, except f and g's rate in the
    /// first epoch when [`TrainConfig::first_epoch_features_lr`] sets it.
    pub fn learning_rates(&self, epoch: usize) -> LearningRates {
        let scheduled = self.sgd.lr_at(epoch);
        LearningRates {
            features: match self.first_epoch_features_lr {
                Some(lr) if epoch == 0 => lr,
                _ => scheduled,
            },
            heads: scheduled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warm_start_rate_applies_to_the_first_epoch_only() {
        let dataset = DatasetChoice::File("d.npy".into());
        let mut config = TrainConfig::paper(Method::Lntl, dataset);
        assert_eq!(config.learning_rates(0), LearningRates::same(0.001));
        config.first_epoch_features_lr = Some(1e-4);
        let first = config.learning_rates(0);
        assert_eq!((first.features, first.heads), (1e-4, 0.001));
        assert_eq!(config.learning_rates(1), LearningRates::same(0.001));
        assert!((config.learning_rates(40).features - 1e-4).abs() < 1e-10);
    }

    #[test]
    fn blindeye_takes_its_own_confusion_weight_and_lntl_the_papers() {
        let dataset = || DatasetChoice::File("d.npy".into());
        let blindeye = TrainConfig::paper(Method::Blindeye, dataset()).lntl;
        assert_eq!(blindeye.lambda, BLINDEYE_CONFUSION_WEIGHT);
        assert_eq!(blindeye.grl_scale, LntlConfig::PAPER.grl_scale);
        assert_eq!(
            TrainConfig::paper(Method::Lntl, dataset()).lntl,
            LntlConfig::PAPER
        );
    }

    /// A run recorded before the jitter rule was a choice has no `jitter`: it was clipped, not
    /// reflected as new runs are by default.
    #[test]
    fn a_generated_dataset_recorded_without_its_jitter_rule_was_clipped() {
        let read = |json: &str| serde_json::from_str::<DatasetChoice>(json).unwrap();
        let old = read(r#"{"Generated": {"variance": 0.02, "seed": 0}}"#);
        let new = read(r#"{"Generated": {"variance": 0.02, "seed": 0, "jitter": "reflect"}}"#);
        let jitter = |choice: DatasetChoice| match choice {
            DatasetChoice::Generated { jitter, .. } => jitter,
            DatasetChoice::File(_) => panic!("a generated dataset"),
        };
        assert_eq!(jitter(old), JitterRule::Clip);
        assert_eq!(jitter(new), JitterRule::Reflect);
    }

    /// `result.json` and the report name the digits a run was measured on.
    #[test]
    fn a_run_is_evaluated_on_validation_digits_only_with_validation() {
        let mut config = TrainConfig::paper(Method::Baseline, DatasetChoice::File("d.npy".into()));
        assert_eq!(config.evaluated_on(), "test");
        config.validation = true;
        assert_eq!(config.evaluated_on(), "validation");
    }

    /// σ² is known before reading only for generated datasets (the run directory's layout
    /// follows it).
    #[test]
    fn variance_is_known_for_generated_datasets_only() {
        let generated = DatasetChoice::Generated {
            variance: 0.035,
            seed: 1,
            jitter: JitterRule::Reflect,
        };
        assert_eq!(generated.variance(), Some(0.035));
        assert_eq!(DatasetChoice::File("d.npy".into()).variance(), None);
    }
}
