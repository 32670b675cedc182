//! A convolution of `map(input)`, where the map is a per-channel affine map with a ReLU (a batch
//! norm and the ReLU after it, [`ChannelAffine`]), formed a block of images at a time as the
//! convolution reads them and never stored whole: the heads' second convolution reads the first
//! one's output this way (two passes over a 9.6 MB tensor fewer per forward pass).
//!
//! Only the output-patch lowering reads its input in blocks a map can be applied to, so this is
//! a type of its own that always uses it: a convolution lowered any other way has no method
//! that takes a map.

use super::output_patches::OutputPatches;
use super::{ConvSpec, new_params};
use crate::engine::channel_affine::ChannelAffine;
use crate::engine::param::Param;
use crate::engine::tensor::Tensor;

/// A convolution that reads its input through a per-channel map.
#[derive(Debug, Clone)]
pub struct MappedConv2d {
    /// Shape of the convolution; it must keep the side (stride 1, `2p + 1 = k`).
    pub spec: ConvSpec,
    /// Weights, `[group][ky][kx][ci][co]`.
    pub weight: Param,
    /// Bias, one per output channel.
    pub bias: Param,
    lowering: OutputPatches,
    /// Dimensions of the last forward input.
    input_dims: [usize; 4],
}

impl MappedConv2d {
    /// A convolution with the given parameters (weights in `[group][ky][kx][ci][co]` order).
    pub fn new(name: &str, spec: ConvSpec, weight: Vec<f32>, bias: Vec<f32>) -> MappedConv2d {
        let [weight, bias] = new_params(name, &spec, weight, bias);
        MappedConv2d {
            spec,
            weight,
            bias,
            lowering: OutputPatches::new(spec),
            input_dims: [0; 4],
        }
    }

    /// Forward pass of the convolution of `map(input)` into `out`.
    pub fn forward(&mut self, input: &Tensor, map: &ChannelAffine, out: &mut Tensor) {
        assert_eq!(
            input.channels(),
            self.spec.in_channels,
            "conv input channels"
        );
        assert_eq!(map.channels(), self.spec.in_channels, "map channels");
        out.resize(self.spec.output_dims(input.dims));
        self.input_dims = input.dims;
        let params = [&self.weight.value[..], &self.bias.value[..]];
        self.lowering.forward(params, input, Some(map), out);
    }

    /// Backward pass from `dout`, given the `input` and `map` of the last forward pass. Adds the
    /// parameter gradients when `param_grads` is set and writes the gradient with respect to
    /// the mapped input into `dinput` when one is given (the map's own backward pass is the
    /// caller's).
    pub fn backward(
        &mut self,
        (input, map): (&Tensor, &ChannelAffine),
        dout: &Tensor,
        param_grads: bool,
        dinput: Option<&mut Tensor>,
    ) {
        assert_eq!(
            input.dims, self.input_dims,
            "backward given the forward's input"
        );
        let params = [&mut self.weight, &mut self.bias];
        let read = (input, Some(map));
        self.lowering
            .backward(params, read, dout, param_grads, dinput);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conv::{Conv2d, Lowering, test_values as values};

    /// Reading the input through a map is exactly the convolution of the mapped input, stored:
    /// in the forward pass and in every gradient (the input gradient being that of the mapped
    /// input), with and without the parameter gradients, over several blocks per thread.
    #[test]
    fn a_mapped_input_is_convolved_as_if_stored() {
        let spec = ConvSpec {
            in_channels: 96,
            out_channels: 24,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 3,
        };
        let dims = [13, 14, 14, spec.in_channels];
        let x = Tensor::from_vec(dims, values(dims.iter().product(), 0.1));
        let map = ChannelAffine {
            scale: values(spec.in_channels, 0.4),
            shift: values(spec.in_channels, 2.2),
            relu: true,
        };
        let mut mapped = Tensor::zeros(dims);
        map.apply(&x.data, &mut mapped.data);
        assert!(mapped.data.contains(&0.0) && mapped.data.iter().any(|&v| v > 0.5));
        let dout_dims = [13, 14, 14, spec.out_channels];
        let dout = Tensor::from_vec(dout_dims, values(dout_dims.iter().product(), 2.9));
        let (w, b) = (
            values(spec.groups * spec.group_weights(), 0.7),
            values(spec.out_channels, 1.3),
        );
        let mut stored = Conv2d::new("c", spec, w.clone(), b.clone());
        assert_eq!(stored.lowering(), Lowering::OutputPatches);
        let mut fused = MappedConv2d::new("c", spec, w, b);
        let (mut out, mut dx) = (Tensor::empty(), Tensor::empty());
        stored.forward(&mapped, &mut out);
        stored.backward(&mapped, &dout, true, Some(&mut dx));
        let (mut fused_out, mut fused_dx) = (Tensor::empty(), Tensor::empty());
        fused.forward(&x, &map, &mut fused_out);
        fused.backward((&x, &map), &dout, true, Some(&mut fused_dx));
        assert_eq!(fused_out, out);
        assert_eq!(fused_dx, dx);
        assert_eq!(fused.weight.grad, stored.weight.grad);
        assert_eq!(fused.bias.grad, stored.bias.grad);
        let mut dx_only = Tensor::empty();
        fused.forward(&x, &map, &mut fused_out);
        fused.backward((&x, &map), &dout, false, Some(&mut dx_only));
        assert_eq!(dx_only, dx);
    }
}
