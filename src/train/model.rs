//! The trainable state of a run: f, g, (for LNTL and BlindEye) the color heads, and (for LfF)
//! the biased network with the per-sample loss averages.

use crate::engine::adam::{Adam, AdamConfig};
use crate::methods::lff::LffAverages;
use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;
use crate::train::config::{Method, Optimizer, TrainConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Networks of a run.
#[derive(Debug, Clone)]
pub struct Model {
    /// f and g: the classifier a run reports (LfF's debiased network).
    pub net: ConvNet,
    /// The three color heads.
    pub heads: ColorHeads,
    /// LfF's biased network and loss averages, in LfF runs.
    pub lff: Option<LffState>,
}

/// What LfF trains beside the debiased network.
#[derive(Debug, Clone)]
pub struct LffState {
    /// f_B, the biased network.
    pub biased: ConvNet,
    /// Both networks' per-sample loss averages over the training set.
    pub averages: LffAverages,
    /// With Adam, f_B's and f_D's optimizers (SGD keeps its momentum in the parameters).
    pub adam: Option<LffAdam>,
}

/// The Adam optimizers of an LfF run.
#[derive(Debug, Clone)]
pub struct LffAdam {
    /// f_B's.
    pub biased: Adam,
    /// f_D's.
    pub debiased: Adam,
}

impl Model {
    /// Freshly initialized networks from `seed` (f and g, then the heads).
    pub fn new(seed: u64) -> Model {
        Model::build(seed).0
    }

    /// The networks of a run of `config` on a training set of classes `train_labels`: LfF adds
    /// f_B, drawn from the same stream after the heads, the averages and, with Adam, the two
    /// optimizers (PyTorch's β and ε, the run's weight decay).
    pub fn for_run(config: &TrainConfig, train_labels: &[u8]) -> Model {
        let (mut model, mut rng) = Model::build(config.seed);
        if config.method == Method::Lff {
            let adam = AdamConfig {
                weight_decay: config.sgd.weight_decay,
                ..AdamConfig::pytorch(config.sgd.lr)
            };
            model.lff = Some(LffState {
                biased: ConvNet::new(&mut rng),
                averages: LffAverages::new(train_labels),
                adam: (config.optimizer == Optimizer::Adam).then(|| LffAdam {
                    biased: Adam::new(adam),
                    debiased: Adam::new(adam),
                }),
            });
        }
        model
    }

    fn build(seed: u64) -> (Model, ChaCha8Rng) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = ConvNet::new(&mut rng);
        let heads = ColorHeads::new(&mut rng);
        let model = Model {
            net,
            heads,
            lff: None,
        };
        (model, rng)
    }
}
