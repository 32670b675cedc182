//! What a run on LfF's Colored-MNIST trains, per method, and its checkpoint: every network's
//! parameters, every Adam's moments and step counts, LfF's per-sample loss averages and Group
//! DRO's group weights (LNTL's color head and its Adam among the rest), so that a resumed run
//! continues bit for bit.

use crate::engine::adam::{Adam, AdamConfig, AdamMoments};
use crate::engine::param::Param;
use crate::engine::tensor::Tensor;
use crate::methods::baseline::ClassifierStep;
use crate::methods::group_dro::{GROUPS, GroupWeights, group_dro_step};
use crate::methods::lff::{Lff, LffAverages, LffStep};
use crate::methods::lntl::LntlConfig;
use crate::methods::mlp_lntl::{MlpLntl, MlpLntlStep, head_params};
use crate::methods::vanilla::vanilla_step;
use crate::models::mlp::Mlp;
use crate::util::tensor_file::TensorFile;
use anyhow::{Result, ensure};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

const KIND: &str = "lntl-lff-checkpoint";
const VERSION: u32 = 1;
const GROUP_WEIGHTS: &str = "group_weights";

/// The iterations done by the LfF checkpoint at `path` (the whole file is verified).
pub fn checkpoint_steps(path: &Path) -> Result<usize> {
    steps_done(&TensorFile::read(path, KIND, VERSION)?, path)
}

fn steps_done(file: &TensorFile, path: &Path) -> Result<usize> {
    file.meta("steps_done")?
        .parse()
        .map_err(|_| anyhow::anyhow!("{}: steps_done is not a whole number", path.display()))
}

/// Stores LfF's per-sample loss averages in a checkpoint.
pub(crate) fn put_averages(file: &mut TensorFile, averages: &LffAverages) {
    for (name, averages) in [
        ("biased_losses", &averages.biased),
        ("debiased_losses", &averages.debiased),
    ] {
        let (values, seen) = averages.state();
        file.put_f32(name, &[values.len()], values);
        file.put_u8(
            &format!("{name}#seen"),
            &[seen.len()],
            seen.iter().map(|&s| u8::from(s)).collect(),
        );
    }
}

/// Restores LfF's per-sample loss averages from the checkpoint `file` read from `path`.
pub(crate) fn take_averages(
    file: &mut TensorFile,
    averages: &mut LffAverages,
    path: &Path,
) -> Result<()> {
    for (name, averages) in [
        ("biased_losses", &mut averages.biased),
        ("debiased_losses", &mut averages.debiased),
    ] {
        let len = averages.state().0.len();
        let values = file.take_f32(name, &[len])?;
        let seen = file.take_u8(&format!("{name}#seen"), &[len])?;
        ensure!(
            seen.iter().all(|&s| s <= 1),
            "{}: {name}#seen holds a value other than 0 and 1",
            path.display()
        );
        averages.restore(values, seen.iter().map(|&s| s == 1).collect());
    }
    Ok(())
}

/// Stores `adam`'s step count and moments for each of `params` (the parameters it steps, in its
/// order) as `{prefix}.{name}#adam_step`, `#adam_m` and `#adam_v`.
pub(crate) fn put_adam(file: &mut TensorFile, prefix: &str, params: &[&mut Param], adam: &Adam) {
    for (i, p) in params.iter().enumerate() {
        let name = format!("{prefix}.{}", p.name);
        let moments = adam.state.get(i).cloned().unwrap_or_default();
        file.put_u64(&format!("{name}#adam_step"), &[moments.step]);
        file.put_f32(&format!("{name}#adam_m"), &[moments.m.len()], &moments.m);
        file.put_f32(&format!("{name}#adam_v"), &[moments.v.len()], &moments.v);
    }
}

/// Restores what [`put_adam`] stored into `adam`.
pub(crate) fn take_adam(
    file: &mut TensorFile,
    prefix: &str,
    params: &[&mut Param],
    adam: &mut Adam,
) -> Result<()> {
    let mut state = Vec::new();
    for p in params {
        let name = format!("{prefix}.{}", p.name);
        let step = file.take_u64(&format!("{name}#adam_step"), 1)?[0];
        let len = if step == 0 { 0 } else { p.value.len() };
        let m = file.take_f32(&format!("{name}#adam_m"), &[len])?;
        let v = file.take_f32(&format!("{name}#adam_v"), &[len])?;
        state.push(AdamMoments { step, m, v });
    }
    adam.state = state;
    Ok(())
}

/// The settings that only some methods read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodSettings {
    /// Group DRO's step size η for the group weights.
    pub dro_step_size: f32,
    /// LNTL's λ, the weight of the negative-entropy term.
    pub loss_lambda: f32,
    /// LNTL's μ, the gradient reversal scale.
    pub grl_scale: f32,
}

impl MethodSettings {
    /// η chosen on validation digits (docs/LFF.md, "Group DRO's step size") and the paper's λ
    /// and μ (docs/SPEC.md §3).
    pub const DEFAULT: MethodSettings = MethodSettings {
        dro_step_size: 0.0001,
        loss_lambda: LntlConfig::PAPER.lambda,
        grl_scale: LntlConfig::PAPER.grl_scale,
    };
}

/// The methods on LfF's benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LffMethod {
    /// Cross-entropy only.
    Vanilla,
    /// Learning from Failure (Nam et al., 2020).
    Lff,
    /// Online Group DRO over the (digit, color) groups (Sagawa et al., 2020): uses the color
    /// labels.
    #[serde(rename = "groupdro")]
    #[value(name = "groupdro")]
    GroupDro,
    /// Learning Not to Learn with an image-level color head on the MLP (docs/LFF.md): uses the
    /// color labels.
    Lntl,
}

impl LffMethod {
    /// The method's name in directories and tables.
    pub fn name(self) -> &'static str {
        match self {
            LffMethod::Vanilla => "vanilla",
            LffMethod::Lff => "lff",
            LffMethod::GroupDro => "groupdro",
            LffMethod::Lntl => "lntl",
        }
    }
}

/// The networks and optimizers of one method.
#[derive(Debug, Clone)]
pub enum LffModels {
    /// One MLP and its Adam.
    Vanilla {
        /// The classifier.
        net: Box<Mlp>,
        /// Its optimizer.
        adam: Adam,
    },
    /// LfF's two MLPs, their Adams and loss averages.
    Lff(Box<Lff>),
    /// One MLP, its Adam and the group weights.
    GroupDro {
        /// The classifier.
        net: Box<Mlp>,
        /// Its optimizer.
        adam: Adam,
        /// The weights of the (digit, color) groups.
        weights: GroupWeights,
    },
    /// The MLP, its color head and their Adams.
    Lntl(Box<MlpLntl>),
}

/// What one iteration measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LffStepStats {
    /// A vanilla or Group DRO iteration.
    Classifier(ClassifierStep),
    /// An LfF iteration.
    Lff(LffStep),
    /// An LNTL iteration.
    Lntl(MlpLntlStep),
}

impl LffModels {
    /// Freshly initialized models for `method` from `seed`, for a training set of classes
    /// `train_labels`, with the method's own `settings`.
    pub fn new(
        method: LffMethod,
        seed: u64,
        train_labels: &[u8],
        adam: AdamConfig,
        settings: MethodSettings,
    ) -> LffModels {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        match method {
            LffMethod::Vanilla => LffModels::Vanilla {
                net: Box::new(Mlp::new(&mut rng)),
                adam: Adam::new(adam),
            },
            LffMethod::Lff => LffModels::Lff(Box::new(Lff::new(train_labels, adam, &mut rng))),
            LffMethod::GroupDro => LffModels::GroupDro {
                net: Box::new(Mlp::new(&mut rng)),
                adam: Adam::new(adam),
                weights: GroupWeights::new(settings.dro_step_size),
            },
            LffMethod::Lntl => LffModels::Lntl(Box::new(MlpLntl::new(
                adam,
                settings.loss_lambda,
                settings.grl_scale,
                &mut rng,
            ))),
        }
    }

    /// One iteration on the training samples `indices` (images `x`, digit labels `labels`,
    /// color indices `colors`, which only Group DRO and LNTL read).
    pub fn step(
        &mut self,
        x: &Tensor,
        labels: &[u8],
        colors: &[u8],
        indices: &[usize],
    ) -> LffStepStats {
        match self {
            LffModels::Vanilla { net, adam } => {
                LffStepStats::Classifier(vanilla_step(net, adam, x, labels))
            }
            LffModels::Lff(lff) => LffStepStats::Lff(lff.step(x, labels, indices)),
            LffModels::GroupDro { net, adam, weights } => {
                LffStepStats::Classifier(group_dro_step(net, adam, weights, x, labels, colors))
            }
            LffModels::Lntl(lntl) => LffStepStats::Lntl(lntl.step(x, labels, colors)),
        }
    }

    /// The classifier the method reports (LfF's debiased model).
    pub fn classifier(&mut self) -> &mut Mlp {
        match self {
            LffModels::Vanilla { net, .. } | LffModels::GroupDro { net, .. } => net,
            LffModels::Lff(lff) => &mut lff.debiased,
            LffModels::Lntl(lntl) => &mut lntl.net,
        }
    }

    /// Every (name prefix, parameters, their optimizer) of the method.
    fn parts(&mut self) -> Vec<(&'static str, Vec<&mut Param>, &mut Adam)> {
        match self {
            LffModels::Vanilla { net, adam } | LffModels::GroupDro { net, adam, .. } => {
                vec![("net", net.params_mut(), adam)]
            }
            LffModels::Lff(lff) => vec![
                ("biased", lff.biased.params_mut(), &mut lff.biased_adam),
                (
                    "debiased",
                    lff.debiased.params_mut(),
                    &mut lff.debiased_adam,
                ),
            ],
            LffModels::Lntl(lntl) => {
                let MlpLntl {
                    net,
                    head,
                    net_adam,
                    head_adam,
                    ..
                } = &mut **lntl;
                vec![
                    ("net", net.params_mut(), net_adam),
                    ("head", head_params(head), head_adam),
                ]
            }
        }
    }

    /// Writes the checkpoint after `steps_done` iterations to `path` (atomically).
    pub fn save(&mut self, path: &Path, steps_done: usize) -> Result<()> {
        let mut file = TensorFile::new(KIND, VERSION);
        file.metadata
            .insert("steps_done".into(), steps_done.to_string());
        for (prefix, params, adam) in self.parts() {
            put_adam(&mut file, prefix, &params, adam);
            for p in params {
                file.put_f32(&format!("{prefix}.{}", p.name), &p.dims, &p.value);
            }
        }
        if let LffModels::Lff(lff) = self {
            put_averages(&mut file, &lff.averages);
        }
        if let LffModels::GroupDro { weights, .. } = self {
            file.put_f32(GROUP_WEIGHTS, &[GROUPS], &weights.q);
        }
        file.write(path)
    }

    /// Restores the state saved at `path` into these freshly built models; returns the
    /// iterations done.
    pub fn load(&mut self, path: &Path) -> Result<usize> {
        let mut file = TensorFile::read(path, KIND, VERSION)?;
        let steps_done = steps_done(&file, path)?;
        for (prefix, mut params, adam) in self.parts() {
            for p in &mut params {
                p.value = file.take_f32(&format!("{prefix}.{}", p.name), &p.dims)?;
            }
            take_adam(&mut file, prefix, &params, adam)?;
        }
        if let LffModels::Lff(lff) = self {
            take_averages(&mut file, &mut lff.averages, path)?;
        }
        if let LffModels::GroupDro { weights, .. } = self {
            weights.q = file.take_f32(GROUP_WEIGHTS, &[GROUPS])?;
        }
        ensure!(
            file.tensors.is_empty(),
            "{}: unexpected tensors {:?} (a checkpoint of another method?)",
            path.display(),
            file.tensors.keys().collect::<Vec<_>>()
        );
        Ok(steps_done)
    }
}
