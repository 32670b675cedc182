//! Fully connected layer, PyTorch layout: `y = x·Wᵀ + b` with W stored out×in.
//! Backward: `dW = dyᵀ·x`, `db = Σ_n dy`, `dx = dy·W`.

use crate::engine::matmul::{MatRef, matmul};
use crate::engine::param::Param;
use crate::engine::tensor::{Tensor, add_to_rows};

/// A linear layer on N×1×1×in tensors.
#[derive(Debug, Clone)]
pub struct Linear {
    /// Weight, out×in.
    pub weight: Param,
    /// Bias, out.
    pub bias: Param,
    input: Vec<f32>,
}

impl Linear {
    /// A layer with the given parameters.
    pub fn new(
        name: &str,
        inputs: usize,
        outputs: usize,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Linear {
        Linear {
            weight: Param::new(&format!("{name}.weight"), vec![outputs, inputs], weight),
            bias: Param::new(&format!("{name}.bias"), vec![outputs], bias),
            input: Vec::new(),
        }
    }

    fn dims(&self) -> (usize, usize) {
        (self.weight.dims[1], self.weight.dims[0])
    }

    /// Forward pass.
    pub fn forward(&mut self, x: &Tensor) -> Tensor {
        let (inputs, outputs) = self.dims();
        assert_eq!(x.item_len(), inputs, "linear input size");
        let n = x.batch();
        let mut y = Tensor::zeros([n, 1, 1, outputs]);
        matmul(
            n,
            outputs,
            inputs,
            MatRef::rows(&x.data, 0, inputs),
            MatRef::transposed(&self.weight.value, 0, inputs),
            &mut y.data,
            0,
            outputs,
            false,
        );
        add_to_rows(&mut y.data, &self.bias.value);
        self.input.clone_from(&x.data);
        y
    }

    /// Backward pass: adds dW and db; returns dx with the dimensions of `input_dims`.
    pub fn backward(&mut self, dout: &Tensor, input_dims: [usize; 4]) -> Tensor {
        let (inputs, outputs) = self.dims();
        let n = dout.batch();
        let mut dw = vec![0.0; outputs * inputs];
        matmul(
            outputs,
            inputs,
            n,
            MatRef::transposed(&dout.data, 0, outputs),
            MatRef::rows(&self.input, 0, inputs),
            &mut dw,
            0,
            inputs,
            false,
        );
        let mut db = vec![0.0; outputs];
        for row in dout.data.chunks_exact(outputs) {
            db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
        }
        self.weight.accumulate_grad(&dw);
        self.bias.accumulate_grad(&db);
        let mut dx = Tensor::zeros(input_dims);
        matmul(
            n,
            inputs,
            outputs,
            MatRef::rows(&dout.data, 0, outputs),
            MatRef::rows(&self.weight.value, 0, inputs),
            &mut dx.data,
            0,
            inputs,
            false,
        );
        dx
    }
}
