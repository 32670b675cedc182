//! LfF's classifier for its Colored-MNIST (docs/LFF.md): an MLP 2352 → 100 → 100 → 100 → 10 with
//! ReLUs, under LfF's module names (`feature.0`, `feature.2`, `feature.4`, `classifier`). The
//! image enters flattened channel-first and divided by 255 twice, as LfF's `ToTensor()` and
//! then its forward pass do, so the network sees values in [0, 1/255]: its published numbers
//! depend on that scale.

use crate::data::mnist::PIXELS;
use crate::engine::init::pytorch_default_uniform;
use crate::engine::linear::Linear;
use crate::engine::param::Param;
use crate::engine::relu::{relu_backward, relu_forward};
use crate::engine::tensor::Tensor;
use crate::lff_colored::palette::MEAN_COLORS;
use rand_chacha::ChaCha8Rng;

/// Inputs per image: 3 × 28 × 28.
pub const MLP_INPUTS: usize = 3 * PIXELS;
/// Width of the hidden layers.
pub const MLP_HIDDEN: usize = 100;
/// Classes.
pub const MLP_CLASSES: usize = 10;
/// Outputs of the color head: the colors of LfF's palette.
pub const MLP_COLORS: usize = MEAN_COLORS.len();

/// The network's input from HWC color images: channel-first, each byte v as (v / 255) / 255 in
/// float32.
pub fn mlp_input(images: &[u8]) -> Tensor {
    let n = images.len() / MLP_INPUTS;
    let mut x = Tensor::zeros([n, 1, 1, MLP_INPUTS]);
    for (image, row) in images
        .chunks_exact(MLP_INPUTS)
        .zip(x.data.chunks_exact_mut(MLP_INPUTS))
    {
        for (p, pixel) in image.chunks_exact(3).enumerate() {
            for (c, &v) in pixel.iter().enumerate() {
                row[c * PIXELS + p] = f32::from(v) / 255.0 / 255.0;
            }
        }
    }
    x
}

/// The MLP, with the activations its backward pass needs.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// The four linear layers, input to output.
    pub layers: [Linear; 4],
    /// The input and each hidden layer's output after its ReLU, from the last forward pass.
    activations: Vec<Tensor>,
    logits: Tensor,
}

impl Mlp {
    /// A network with PyTorch's default initialization of each layer.
    pub fn new(rng: &mut ChaCha8Rng) -> Mlp {
        let sizes = [
            ("feature.0", MLP_INPUTS, MLP_HIDDEN),
            ("feature.2", MLP_HIDDEN, MLP_HIDDEN),
            ("feature.4", MLP_HIDDEN, MLP_HIDDEN),
            ("classifier", MLP_HIDDEN, MLP_CLASSES),
        ];
        let layers = sizes.map(|(name, inputs, outputs)| {
            let weight = pytorch_default_uniform(rng, inputs * outputs, inputs);
            let bias = pytorch_default_uniform(rng, outputs, inputs);
            Linear::new(name, inputs, outputs, weight, bias)
        });
        Mlp {
            layers,
            activations: Vec::new(),
            logits: Tensor::empty(),
        }
    }

    /// The logits of `x` (N×1×1×2352, from [`mlp_input`]).
    pub fn forward(&mut self, x: &Tensor) -> &Tensor {
        self.forward_features(x);
        self.forward_classifier()
    }

    /// f, the three hidden layers: the features φ of `x` (N×1×1×100, after the last ReLU).
    pub fn forward_features(&mut self, x: &Tensor) -> &Tensor {
        self.activations.clear();
        self.activations.push(x.clone());
        let mut h = x.clone();
        for layer in &mut self.layers[..3] {
            h = layer.forward(&h);
            relu_forward(&mut h);
            self.activations.push(h.clone());
        }
        self.features()
    }

    /// φ from the last [`Mlp::forward_features`].
    pub fn features(&self) -> &Tensor {
        &self.activations[3]
    }

    /// g, the classifier: the logits of the last forward pass's φ.
    pub fn forward_classifier(&mut self) -> &Tensor {
        self.logits = self.layers[3].forward(&self.activations[3]);
        &self.logits
    }

    /// Adds the gradients of the last forward pass's loss, given d(loss)/d(logits).
    pub fn backward(&mut self, dlogits: &Tensor) {
        let dphi = self.backward_classifier(dlogits);
        self.backward_features(dphi);
    }

    /// Adds g's gradients given d(loss)/d(logits); returns d(loss)/dφ.
    pub fn backward_classifier(&mut self, dlogits: &Tensor) -> Tensor {
        self.layers[3].backward(dlogits, self.activations[3].dims)
    }

    /// Adds f's gradients given d(loss)/dφ.
    pub fn backward_features(&mut self, dphi: Tensor) {
        let mut d = dphi;
        for k in (0..3).rev() {
            relu_backward(&self.activations[k + 1], &mut d);
            d = self.layers[k].backward(&d, self.activations[k].dims);
        }
    }

    /// The parameters in PyTorch's order (`parameters()`).
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        self.layers
            .iter_mut()
            .flat_map(|l| [&mut l.weight, &mut l.bias])
            .collect()
    }
}

/// An image-level color head on the MLP's features (LNTL on LfF's benchmark, docs/LFF.md):
/// `color_head`, Linear(100 → 10) over the palette's colors, with PyTorch's default
/// initialization.
pub fn mlp_color_head(rng: &mut ChaCha8Rng) -> Linear {
    let weight = pytorch_default_uniform(rng, MLP_HIDDEN * MLP_COLORS, MLP_HIDDEN);
    let bias = pytorch_default_uniform(rng, MLP_COLORS, MLP_HIDDEN);
    Linear::new("color_head", MLP_HIDDEN, MLP_COLORS, weight, bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_channel_first_and_scaled_twice() {
        let mut image = vec![0u8; MLP_INPUTS];
        image[0] = 255; // pixel 0, red
        image[3 * 5 + 2] = 51; // pixel 5, blue
        let x = mlp_input(&image);
        assert_eq!(x.dims, [1, 1, 1, MLP_INPUTS]);
        assert_eq!(x.data[0], 1.0 / 255.0);
        assert_eq!(x.data[2 * PIXELS + 5], 51.0 / 255.0 / 255.0);
        assert_eq!(x.data.iter().filter(|&&v| v != 0.0).count(), 2);
    }
}
