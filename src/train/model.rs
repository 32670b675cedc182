//! The trainable state of a run: f, g and (for LNTL and BlindEye) the color heads.

use crate::models::color_heads::ColorHeads;
use crate::models::convnet::ConvNet;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Networks of a run.
#[derive(Debug, Clone)]
pub struct Model {
    /// f and g.
    pub net: ConvNet,
    /// The three color heads.
    pub heads: ColorHeads,
}

impl Model {
    /// Freshly initialized networks from `seed`.
    pub fn new(seed: u64) -> Model {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let net = ConvNet::new(&mut rng);
        let heads = ColorHeads::new(&mut rng);
        Model { net, heads }
    }
}
