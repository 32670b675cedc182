//! A trainable parameter: its value, its gradient, and its SGD momentum buffer.

use crate::engine::tensor::add_to;

/// One parameter tensor, stored flat.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name used in checkpoints and fixtures.
    pub name: String,
    /// Dimensions, in the engine's storage order.
    pub dims: Vec<usize>,
    /// Current value.
    pub value: Vec<f32>,
    /// Accumulated gradient (valid when `has_grad`).
    pub grad: Vec<f32>,
    /// Whether a backward pass wrote `grad` since the last `zero_grad`. A parameter without a
    /// gradient is skipped by the optimizer, as PyTorch skips parameters whose `.grad` is None.
    pub has_grad: bool,
    /// SGD momentum buffer; empty until the first step.
    pub momentum: Vec<f32>,
}

impl Param {
    /// A parameter with the given value.
    pub fn new(name: &str, dims: Vec<usize>, value: Vec<f32>) -> Param {
        assert_eq!(
            dims.iter().product::<usize>(),
            value.len(),
            "{name}: dims vs values"
        );
        let n = value.len();
        Param {
            name: name.to_string(),
            dims,
            value,
            grad: vec![0.0; n],
            has_grad: false,
            momentum: Vec::new(),
        }
    }

    /// Forgets the gradient.
    pub fn zero_grad(&mut self) {
        self.grad.fill(0.0);
        self.has_grad = false;
    }

    /// Adds `g` to the gradient.
    pub fn accumulate_grad(&mut self, g: &[f32]) {
        debug_assert_eq!(g.len(), self.grad.len());
        add_to(&mut self.grad, g);
        self.has_grad = true;
    }
}
