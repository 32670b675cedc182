//! Named protocols: every setting of a training run except its method, dataset and seed, so
//! that one name (`--protocol paper`) stands for a whole pipeline and is recorded in each run.
//!
//! A protocol's LNTL and BlindEye runs warm-start from the baseline run of the same (dataset,
//! seed): in a sweep's layout `DIR/var_σ²/<method>/seed_S/`, that is `DIR/var_σ²/baseline/seed_S/`.

use crate::train::checkpoint::{Checkpoint, load_checkpoint};
use crate::train::config::{DatasetChoice, LFF_ADAM, Method, Optimizer, TrainConfig};
use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};

/// The protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Protocol {
    /// The authors' pipeline (docs/SPEC.md §3, `docs/REPRODUCTION.md`): baseline and Gray 100 epochs
    /// at lr 0.01; LNTL and BlindEye 100 epochs at lr 0.001 from the baseline's final
    /// checkpoint, with its momentum buffers and, for the first epoch, its last learning rate.
    Paper,
    /// The paper's pipeline in a quarter of its compute, chosen on validation digits
    /// (`docs/PROTOCOLS.md`): baseline and Gray 40 epochs at lr 0.01 with the decay after 30;
    /// LNTL 20 epochs at lr 0.002 and BlindEye 20 epochs at lr 0.001, each with the decay
    /// after 15, from the baseline's final checkpoint with its momentum (every epoch at the
    /// method's own rate); LfF's two networks 40 epochs from scratch with Adam as LfF's code
    /// trains them (`docs/LFF.md`).
    Fast,
    /// A seconds-long pipeline with the paper's structure, for trying the tools and for tests:
    /// 2 epochs per method on the first 2,000 training images, a 1,000-image leakage probe.
    Smoke,
}

/// An epoch of a method with color heads costs about this many baseline epochs (34 s against
/// 11 s on 2 cores, evaluation included).
pub const HEADS_EPOCH_COST: f64 = 3.2;

/// How long a protocol trains one method, at what rate, and when the rate decays.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Epochs.
    pub epochs: usize,
    /// The learning rate before the first decay.
    pub lr: f32,
    /// Epochs between the decays of the learning rate (× 0.1 each).
    pub decay_period: usize,
}

impl Protocol {
    /// Lower-case name, as recorded in `config.json`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Paper => "paper",
            Protocol::Fast => "fast",
            Protocol::Smoke => "smoke",
        }
    }

    /// The schedule of `method`'s runs.
    pub fn schedule(self, method: Method) -> Schedule {
        let lr = method.default_lr();
        match self {
            Protocol::Paper => Schedule {
                epochs: 100,
                lr,
                decay_period: 40,
            },
            Protocol::Fast if method.uses_heads() => Schedule {
                epochs: 20,
                // LNTL at twice the paper's rate: fast_v6 against fast_v4 (docs/PROTOCOLS.md).
                lr: if method == Method::Lntl { 0.002 } else { lr },
                decay_period: 15,
            },
            Protocol::Fast if self.optimizer(method) == Optimizer::Adam => Schedule {
                epochs: 40,
                lr: LFF_ADAM.lr,
                decay_period: LFF_ADAM.decay_period,
            },
            Protocol::Fast => Schedule {
                epochs: 40,
                lr,
                decay_period: 30,
            },
            Protocol::Smoke => Schedule {
                epochs: 2,
                lr,
                decay_period: 40,
            },
        }
    }

    /// The optimizer of `method`'s runs: Adam for LfF under `fast` (chosen on validation
    /// digits against SGD, docs/LFF.md), SGD otherwise.
    pub fn optimizer(self, method: Method) -> Optimizer {
        match (self, method) {
            (Protocol::Fast, Method::Lff) => Optimizer::Adam,
            _ => Optimizer::Sgd,
        }
    }

    /// Epochs of `method`'s runs.
    pub fn epochs(self, method: Method) -> usize {
        self.schedule(method).epochs
    }

    /// The compute of a run of `method`, in baseline epochs (LfF trains two networks).
    pub fn cost(self, method: Method) -> f64 {
        let per_epoch = if method.uses_heads() {
            HEADS_EPOCH_COST
        } else if method == Method::Lff {
            2.0
        } else {
            1.0
        };
        per_epoch * self.epochs(method) as f64
    }

    /// Whether a warm start keeps the baseline optimizer's last rate for f and g's first
    /// epoch, as the authors' `_load_model` does (docs/SPEC.md §3); `fast` runs every epoch at the
    /// method's own rate, as it was chosen on validation.
    fn restores_baseline_lr(self) -> bool {
        self != Protocol::Fast
    }

    /// Whether `method` warm-starts from the baseline run of the same dataset and seed.
    pub fn warm_starts(self, method: Method) -> bool {
        method.uses_heads()
    }

    /// The settings of every run of `method` on `dataset` with `seed` under this protocol,
    /// measured on the test set or (with `validation`) on held-out training digits: everything
    /// but the warm start.
    pub fn settings(
        self,
        method: Method,
        dataset: DatasetChoice,
        (seed, validation): (u64, bool),
    ) -> TrainConfig {
        let mut config = TrainConfig::paper(method, dataset);
        config.seed = seed;
        config.validation = validation;
        config.protocol = Some(self.name().to_string());
        config.optimizer = self.optimizer(method);
        if config.optimizer == Optimizer::Adam {
            config.sgd = LFF_ADAM;
        }
        let schedule = self.schedule(method);
        config.epochs = schedule.epochs;
        config.sgd.lr = schedule.lr;
        config.sgd.decay_period = schedule.decay_period;
        if self == Protocol::Smoke {
            config.train_limit = 2_000;
            config.leakage_train_images = 1_000;
        }
        config
    }

    /// The configuration of a new run: [`Protocol::settings`], and for warm-starting methods
    /// the warm start from `baseline` (the baseline run's checkpoint), which must be a finished
    /// baseline run of this protocol on the same dataset and seed.
    pub fn config(
        self,
        method: Method,
        dataset: DatasetChoice,
        (seed, validation): (u64, bool),
        baseline: Option<&Path>,
    ) -> Result<TrainConfig> {
        let mut config = self.settings(method, dataset, (seed, validation));
        if self.warm_starts(method) {
            let path = baseline.with_context(|| {
                format!(
                    "--protocol {} trains {} from a finished baseline run; give its checkpoint",
                    self.name(),
                    method.name()
                )
            })?;
            let checkpoint = load_checkpoint(path)?;
            self.check_baseline(&checkpoint, &config, path)?;
            if self.restores_baseline_lr() {
                config.first_epoch_features_lr = Some(checkpoint.last_lr());
            }
            config.init_from = Some(
                std::path::absolute(path)
                    .with_context(|| format!("cannot resolve {}", path.display()))?,
            );
        }
        Ok(config)
    }

    /// Refuses a run of this protocol, stored with `stored` as its configuration (read from
    /// `path`), that was trained with settings the protocol no longer has, e.g. before a default
    /// changed: resuming it, skipping it as finished or reporting it would put two pipelines
    /// under one name.
    pub fn check_settings(self, stored: &TrainConfig, path: &Path) -> Result<()> {
        let mut wanted = self.settings(
            stored.method,
            stored.dataset.clone(),
            (stored.seed, stored.validation),
        );
        // What runs of one protocol may differ in: threads, where outputs go, and the warm
        // start's source (checked against the baseline when the run starts).
        wanted.threads = stored.threads;
        wanted.tensorboard_dir.clone_from(&stored.tensorboard_dir);
        wanted.dataset_sha256.clone_from(&stored.dataset_sha256);
        wanted.init_from.clone_from(&stored.init_from);
        wanted.first_epoch_features_lr = stored.first_epoch_features_lr;
        let differences = stored.differences(&wanted);
        ensure!(
            differences.is_empty(),
            "{}: trained with settings that --protocol {} no longer uses (stored against the \
             protocol's): {}. Move the run away to train it again",
            path.display(),
            self.name(),
            differences.join("; ")
        );
        Ok(())
    }

    /// Refuses a warm start from anything but this protocol's finished baseline run on the
    /// same data and seed.
    fn check_baseline(
        self,
        checkpoint: &Checkpoint,
        config: &TrainConfig,
        path: &Path,
    ) -> Result<()> {
        let base = checkpoint.run_config()?;
        let name = path.display();
        let wanted = self.settings(
            Method::Baseline,
            config.dataset.clone(),
            (config.seed, config.validation),
        );
        ensure!(
            base.method == Method::Baseline,
            "{name}: a {} run, not a baseline run",
            base.method.name()
        );
        ensure!(
            base.protocol == wanted.protocol,
            "{name}: protocol {:?}, not {:?}",
            base.protocol,
            wanted.protocol
        );
        ensure!(
            base.dataset == config.dataset,
            "{name}: trained on {:?}, not {:?}",
            base.dataset,
            config.dataset
        );
        ensure!(
            base.seed == config.seed,
            "{name}: seed {}, not {}",
            base.seed,
            config.seed
        );
        ensure!(
            base.validation == config.validation,
            "{name}: measured on {}, not {}",
            base.evaluated_on(),
            config.evaluated_on()
        );
        ensure!(
            checkpoint.epochs_done == wanted.epochs,
            "{name}: the baseline has finished {} of its {} epochs",
            checkpoint.epochs_done,
            wanted.epochs
        );
        Ok(())
    }
}

/// The run directory of a cell in a sweep's layout: `root/var_σ²/<method>/seed_S`.
pub fn cell_dir(root: &Path, variance: f64, method: Method, seed: u64) -> PathBuf {
    root.join(format!(
        "var_{}",
        crate::colored::dataset::variance_tag(variance)
    ))
    .join(method.name())
    .join(format!("seed_{seed}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colored::jitter::JitterRule;

    /// The fast protocol's promise: at most a quarter of the paper's compute for the four
    /// methods of a σ².
    #[test]
    fn fast_costs_at_most_a_quarter_of_paper() {
        let total = |p: Protocol| Method::ALL.iter().map(|&m| p.cost(m)).sum::<f64>();
        let ratio = total(Protocol::Fast) / total(Protocol::Paper);
        assert!(ratio <= 0.25, "fast costs {ratio:.3} of paper");
        assert!(ratio > 0.1, "fast costs {ratio:.3} of paper");
    }

    #[test]
    fn a_run_with_settings_the_protocol_no_longer_has_is_refused() {
        let dataset = DatasetChoice::Generated {
            variance: 0.02,
            seed: 0,
            jitter: JitterRule::Reflect,
        };
        let path = Path::new("runs/fast/config.json");
        let mut stored = Protocol::Fast.settings(Method::Blindeye, dataset, (1, false));
        stored.threads = 7;
        stored.init_from = Some("baseline.safetensors".into());
        stored.first_epoch_features_lr = Some(0.001);
        Protocol::Fast.check_settings(&stored, path).unwrap();
        assert!(Protocol::Paper.check_settings(&stored, path).is_err());

        stored.lntl.lambda = 0.5;
        let err = format!(
            "{:#}",
            Protocol::Fast.check_settings(&stored, path).unwrap_err()
        );
        assert!(err.contains("runs/fast/config.json"), "{err}");
        assert!(err.contains("\"lambda\":0.5"), "{err}");
    }

    /// `fast` trains LNTL at 0.002 from its first epoch on (fast_v6); BlindEye keeps the
    /// paper's 0.001, and `paper` keeps the authors' restored rate for the first epoch. An LNTL
    /// cell trained at the old 0.001 is refused, so a sweep trains it again.
    #[test]
    fn fast_trains_lntl_at_twice_the_paper_rate() {
        let dataset = DatasetChoice::File("d.npy".into());
        let lr = |p: Protocol, m: Method| p.settings(m, dataset.clone(), (0, false)).sgd.lr;
        assert_eq!(lr(Protocol::Fast, Method::Lntl), 0.002);
        assert_eq!(lr(Protocol::Fast, Method::Blindeye), 0.001);
        assert_eq!(lr(Protocol::Fast, Method::Baseline), 0.01);
        assert_eq!(lr(Protocol::Paper, Method::Lntl), 0.001);
        assert!(!Protocol::Fast.restores_baseline_lr());
        assert!(Protocol::Paper.restores_baseline_lr());

        let mut stored = Protocol::Fast.settings(Method::Lntl, dataset, (0, false));
        stored.sgd.lr = 0.001;
        let path = Path::new("results/fast/var_0.020/lntl/seed_0/config.json");
        let err = format!(
            "{:#}",
            Protocol::Fast.check_settings(&stored, path).unwrap_err()
        );
        assert!(
            err.contains("\"lr\":0.001") && err.contains("\"lr\":0.002"),
            "{err}"
        );
    }

    /// `fast` trains LfF's networks as LfF's code does, with Adam at 0.001 for 40 epochs, no
    /// weight decay, no decay of the rate; an LfF cell trained with SGD is refused.
    #[test]
    fn fast_trains_lff_with_adam() {
        let dataset = DatasetChoice::File("d.npy".into());
        let lff = Protocol::Fast.settings(Method::Lff, dataset.clone(), (0, false));
        assert_eq!(lff.optimizer, Optimizer::Adam);
        assert_eq!(
            (lff.epochs, lff.sgd.lr, lff.sgd.weight_decay),
            (40, 0.001, 0.0)
        );
        assert_eq!(lff.sgd.lr_at(39), 0.001);
        let baseline = Protocol::Fast.settings(Method::Baseline, dataset, (0, false));
        assert_eq!(baseline.optimizer, Optimizer::Sgd);
        assert_eq!(Protocol::Smoke.optimizer(Method::Lff), Optimizer::Sgd);

        let sgd = TrainConfig {
            optimizer: Optimizer::Sgd,
            ..lff
        };
        let path = Path::new("results/fast/var_0.020/lff/seed_0/config.json");
        let err = format!(
            "{:#}",
            Protocol::Fast.check_settings(&sgd, path).unwrap_err()
        );
        assert!(err.contains("optimizer: \"sgd\" against \"adam\""), "{err}");
    }
}
