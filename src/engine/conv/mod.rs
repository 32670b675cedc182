//! 2-D convolution (cross-correlation, as PyTorch) with bias and groups, NHWC:
//! `out[n,oy,ox,g·Cout_g+co] = b[g·Cout_g+co] + Σ_{ky,kx,ci} x[n, oy·s+ky−p, ox·s+kx−p, g·Cin_g+ci] · W_g[ky][kx][ci][co]`,
//! with weights stored `[group][ky][kx][ci][co]` so that W_g is a row-major (k·k·Cin_g)×Cout_g
//! matrix.
//!
//! - `spec.rs`: the shape ([`ConvSpec`]).
//! - `reference.rs`: the sum above by direct summation, forward and backward: the definition
//!   every lowering below is tested against.
//! - The lowerings to matrix products, one file each with its formulas, chosen per shape by
//!   [`Lowering::for_spec`]: `winograd.rs` (Winograd F(4×4, 3×3), for 3×3 stride-1
//!   convolutions without groups), `output_patches.rs` (patches of the output gradient, for
//!   side-keeping convolutions with fewer output than input channels per group) and
//!   `input_patches.rs` (im2col, for the rest).
//! - `patches.rs`: forming patch matrices and adding them back (im2col and col2im), for both
//!   patch lowerings and the input stem.
//! - `mapped.rs`: [`MappedConv2d`], a convolution that reads its input through a batch norm and
//!   ReLU without storing their output; only output patches can, so it is a type of its own.

mod input_patches;
mod mapped;
mod output_patches;
pub mod patches;
pub mod reference;
mod spec;
mod winograd;

pub use mapped::MappedConv2d;
pub use spec::ConvSpec;

use crate::engine::param::Param;
use crate::engine::tensor::{ITEMS_PER_TASK, Tensor};
use input_patches::InputPatches;
use output_patches::OutputPatches;
use winograd::Winograd;

/// How a convolution is lowered to matrix products (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lowering {
    /// Patches of the input (im2col), k²·Cin_g wide.
    InputPatches,
    /// Patches of the output gradient, k²·Cout_g wide.
    OutputPatches,
    /// Winograd F(4×4, 3×3): 3.1× fewer multiplies than either kind of patches on the paper's
    /// 14×14 and 7×7 maps.
    Winograd,
}

impl Lowering {
    /// The cheapest lowering for `spec`: Winograd where it applies, else output patches when
    /// they apply and are narrower, else input patches.
    pub fn for_spec(spec: &ConvSpec) -> Lowering {
        if winograd::applies(spec) {
            Lowering::Winograd
        } else if spec.keeps_side() && spec.group_out() < spec.group_in() {
            Lowering::OutputPatches
        } else {
            Lowering::InputPatches
        }
    }
}

/// A lowering with its buffers.
#[derive(Debug, Clone)]
enum Lowered {
    InputPatches(InputPatches),
    OutputPatches(OutputPatches),
    Winograd(Winograd),
}

/// A convolution layer with its parameters and the activations its backward needs.
#[derive(Debug, Clone)]
pub struct Conv2d {
    /// Shape of the convolution.
    pub spec: ConvSpec,
    /// Weights, `[group][ky][kx][ci][co]`.
    pub weight: Param,
    /// Bias, one per output channel.
    pub bias: Param,
    lowered: Lowered,
    /// Dimensions of the last forward input.
    input_dims: [usize; 4],
}

/// Sizes shared by the passes of a patch lowering on one input.
struct Geometry {
    side_in: [usize; 2],
    side_out: [usize; 2],
    /// Output positions per image.
    rows_per_image: usize,
    /// Images per parallel task.
    per_task: usize,
}

impl Geometry {
    fn new(spec: &ConvSpec, dims: [usize; 4]) -> Geometry {
        let side_out = [spec.out_side(dims[1]), spec.out_side(dims[2])];
        Geometry {
            side_in: [dims[1], dims[2]],
            side_out,
            rows_per_image: side_out[0] * side_out[1],
            per_task: ITEMS_PER_TASK,
        }
    }
}

/// Deterministic test values in [−1, 1], `sin(0.37·i + phase)`, for the lowerings' tests.
#[cfg(test)]
fn test_values(len: usize, phase: f32) -> Vec<f32> {
    (0..len).map(|i| (i as f32 * 0.37 + phase).sin()).collect()
}

/// A convolution's weight and bias parameters, checked against `spec`.
fn new_params(name: &str, spec: &ConvSpec, weight: Vec<f32>, bias: Vec<f32>) -> [Param; 2] {
    assert!(
        spec.in_channels.is_multiple_of(spec.groups)
            && spec.out_channels.is_multiple_of(spec.groups)
    );
    let dims = vec![
        spec.groups,
        spec.kernel,
        spec.kernel,
        spec.group_in(),
        spec.group_out(),
    ];
    [
        Param::new(&format!("{name}.weight"), dims, weight),
        Param::new(&format!("{name}.bias"), vec![spec.out_channels], bias),
    ]
}

impl Conv2d {
    /// A convolution with the given parameters (weights in `[group][ky][kx][ci][co]` order),
    /// lowered the cheapest way ([`Lowering::for_spec`]).
    pub fn new(name: &str, spec: ConvSpec, weight: Vec<f32>, bias: Vec<f32>) -> Conv2d {
        Conv2d::with_lowering(name, spec, Lowering::for_spec(&spec), weight, bias)
    }

    /// A convolution lowered by `lowering`, which must apply to `spec` (for tests and
    /// benchmarks that compare lowerings).
    pub fn with_lowering(
        name: &str,
        spec: ConvSpec,
        lowering: Lowering,
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Conv2d {
        let [weight, bias] = new_params(name, &spec, weight, bias);
        let lowered = match lowering {
            Lowering::InputPatches => Lowered::InputPatches(InputPatches::new(spec)),
            Lowering::OutputPatches => Lowered::OutputPatches(OutputPatches::new(spec)),
            Lowering::Winograd => {
                assert!(
                    winograd::applies(&spec),
                    "Winograd does not apply: {spec:?}"
                );
                Lowered::Winograd(Winograd::default())
            }
        };
        Conv2d {
            spec,
            weight,
            bias,
            lowered,
            input_dims: [0; 4],
        }
    }

    /// How this convolution is lowered.
    pub fn lowering(&self) -> Lowering {
        match self.lowered {
            Lowered::InputPatches(_) => Lowering::InputPatches,
            Lowered::OutputPatches(_) => Lowering::OutputPatches,
            Lowered::Winograd(_) => Lowering::Winograd,
        }
    }

    /// Output dimensions for an input of `dims`.
    pub fn output_dims(&self, dims: [usize; 4]) -> [usize; 4] {
        self.spec.output_dims(dims)
    }

    /// Forward pass into `out`; keeps what the backward pass needs.
    pub fn forward(&mut self, input: &Tensor, out: &mut Tensor) {
        assert_eq!(
            input.channels(),
            self.spec.in_channels,
            "conv input channels"
        );
        out.resize(self.output_dims(input.dims));
        self.input_dims = input.dims;
        let (weight, bias) = (&self.weight.value[..], &self.bias.value[..]);
        match &mut self.lowered {
            Lowered::InputPatches(lowering) => lowering.forward([weight, bias], input, out),
            Lowered::OutputPatches(lowering) => lowering.forward([weight, bias], input, None, out),
            Lowered::Winograd(lowering) => lowering.forward(&self.spec, weight, bias, input, out),
        }
    }

    /// Backward pass from `dout`, given the `input` of the last forward pass (the caller keeps
    /// it; output patches and Winograd read it for their weight gradient). Adds the parameter
    /// gradients when `param_grads` is set and writes the input gradient into `dinput` when one
    /// is given. Runs once per forward: it reuses the forward's buffers as scratch.
    pub fn backward(
        &mut self,
        input: &Tensor,
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        assert_eq!(
            input.dims, self.input_dims,
            "backward given the forward's input"
        );
        let params = [&mut self.weight, &mut self.bias];
        match &mut self.lowered {
            Lowered::InputPatches(lowering) => {
                lowering.backward(params, input.dims, dout, param_grads, dinput)
            }
            Lowered::OutputPatches(lowering) => {
                lowering.backward(params, (input, None), dout, param_grads, dinput)
            }
            Lowered::Winograd(lowering) => {
                if let Some((dw, db)) = lowering.backward(input, dout, param_grads, dinput) {
                    let [weight, bias] = params;
                    weight.accumulate_grad(&dw);
                    bias.accumulate_grad(&db);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_values as values;

    /// Largest error of a lowering relative to the sum of the magnitudes of the terms that
    /// make up each value (its rounding error grows with that sum, not with the result, which
    /// may cancel): about 2e-7 for patches, 4e-6 for Winograd F(4×4, 3×3).
    fn tolerance(lowering: Lowering) -> f32 {
        match lowering {
            Lowering::Winograd => 2e-5,
            Lowering::InputPatches | Lowering::OutputPatches => 1e-6,
        }
    }

    /// Checks `|got − want| ≤ tol · bound` value by value, `bound` being the sum of the
    /// magnitudes of each value's terms.
    fn assert_close(what: &str, got: &[f32], want: &[f32], bound: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what} length");
        for (i, ((g, w), b)) in got.iter().zip(want).zip(bound).enumerate() {
            assert!(
                (g - w).abs() <= tol * b,
                "{what}[{i}]: {g} vs {w} (terms' magnitude {b})"
            );
        }
    }

    fn abs(values: &[f32]) -> Vec<f32> {
        values.iter().map(|v| v.abs()).collect()
    }

    #[test]
    fn each_lowering_is_chosen_where_it_is_cheapest() {
        let heads_b = ConvSpec {
            in_channels: 96,
            out_channels: 24,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        };
        assert_eq!(Lowering::for_spec(&heads_b), Lowering::OutputPatches);
        let without_groups = ConvSpec {
            in_channels: 32,
            out_channels: 96,
            groups: 1,
            ..heads_b
        };
        assert_eq!(Lowering::for_spec(&without_groups), Lowering::Winograd);
        for spec in [
            ConvSpec {
                out_channels: 96,
                ..heads_b
            },
            ConvSpec {
                stride: 2,
                ..heads_b
            },
            ConvSpec {
                padding: 0,
                ..heads_b
            },
        ] {
            assert_eq!(
                Lowering::for_spec(&spec),
                Lowering::InputPatches,
                "{spec:?}"
            );
        }
    }

    /// Runs `lowering` forward and backward with weights `w` and bias `b`; returns the output
    /// and the input, weight and bias gradients.
    fn run(
        spec: ConvSpec,
        lowering: Lowering,
        [x, dout]: [&Tensor; 2],
        [w, b]: [&[f32]; 2],
    ) -> [Vec<f32>; 4] {
        let mut conv = Conv2d::with_lowering("c", spec, lowering, w.to_vec(), b.to_vec());
        let mut out = Tensor::empty();
        conv.forward(x, &mut out);
        let mut dx = Tensor::empty();
        conv.backward(x, dout, true, Some(&mut dx));
        // A second backward without parameter gradients gives the same input gradient.
        let mut dx_only = Tensor::empty();
        conv.forward(x, &mut out);
        conv.backward(x, dout, false, Some(&mut dx_only));
        assert_eq!(dx_only.data, dx.data, "{lowering:?}: dx alone");
        [out.data, dx.data, conv.weight.grad, conv.bias.grad]
    }

    /// The same four results from the reference.
    fn run_reference(
        spec: ConvSpec,
        [x, dout]: [&Tensor; 2],
        [w, b]: [&[f32]; 2],
    ) -> [Vec<f32>; 4] {
        let out = reference::forward(&spec, x, w, b);
        let grads = reference::backward(&spec, x, w, dout);
        [out.data, grads.input.data, grads.weight, grads.bias]
    }

    /// Every lowering agrees with direct summation on the forward pass and on every gradient
    /// (tests/gradcheck.rs ties the layers' gradients to their forward passes by finite
    /// differences too). The shapes cover the paper's layers, groups, stride 2, partial Winograd
    /// tiles (sides that are not a multiple of 4, among them the paper's 14 and 7) and channel
    /// counts that are not a multiple of the transforms' lane width.
    #[test]
    fn every_lowering_computes_the_reference_convolution() {
        let conv = |in_channels, out_channels, kernel, stride, groups| ConvSpec {
            in_channels,
            out_channels,
            kernel,
            stride,
            padding: kernel / 2,
            groups,
        };
        // (shape, lowering, [images, height, width]); the heads' shapes at 13 images span several
        // blocks (of output patches, of Winograd tiles) per thread, the last one partial.
        let cases = [
            (conv(3, 16, 5, 1, 1), Lowering::InputPatches, [3, 12, 12]),
            (conv(16, 24, 3, 2, 1), Lowering::InputPatches, [3, 14, 14]),
            (conv(12, 6, 3, 1, 3), Lowering::InputPatches, [3, 5, 6]),
            (conv(12, 6, 3, 1, 3), Lowering::OutputPatches, [3, 5, 6]),
            (conv(96, 24, 3, 1, 3), Lowering::OutputPatches, [13, 14, 14]),
            (conv(12, 20, 3, 1, 1), Lowering::Winograd, [3, 5, 6]),
            (conv(33, 17, 3, 1, 1), Lowering::Winograd, [3, 5, 6]),
            (conv(32, 40, 3, 1, 1), Lowering::Winograd, [5, 14, 7]),
            (conv(32, 96, 3, 1, 1), Lowering::Winograd, [13, 14, 14]),
        ];
        for (spec, lowering, [n, h, w]) in cases {
            let x = Tensor::from_vec(
                [n, h, w, spec.in_channels],
                values(n * h * w * spec.in_channels, 0.1),
            );
            let out_dims = spec.output_dims(x.dims);
            let dout = Tensor::from_vec(out_dims, values(out_dims.iter().product(), 2.9));
            let (w, b) = (
                values(spec.groups * spec.group_weights(), 0.7),
                values(spec.out_channels, 1.3),
            );
            let want = run_reference(spec, [&x, &dout], [&w, &b]);
            let x_abs = Tensor::from_vec(x.dims, abs(&x.data));
            let dout_abs = Tensor::from_vec(dout.dims, abs(&dout.data));
            // With every term positive, the sums are the magnitudes of the terms.
            let bound = run_reference(spec, [&x_abs, &dout_abs], [&abs(&w), &abs(&b)]);
            let got = run(spec, lowering, [&x, &dout], [&w, &b]);
            for (name, ((g, w), b)) in ["out", "dx", "dW", "db"]
                .iter()
                .zip(got.iter().zip(&want).zip(&bound))
            {
                let what = format!("{spec:?} {lowering:?} {name}");
                assert_close(&what, g, w, b, tolerance(lowering));
            }
            assert!(want[1].iter().any(|&v| v.abs() > 0.1), "dx is not trivial");
        }
    }
}
