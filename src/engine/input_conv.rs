//! BatchNorm2d on the input followed by a convolution, fused so that the backward pass needs no
//! gradient with respect to the input.
//!
//! With `y = γ_c·x̂ + β_c` (zero padding applies to y) the convolution is
//! `out[p,o] = b_o + Σ_{t valid at p} Σ_c W[t,c,o]·(γ_c·x̂[p+t,c] + β_c)`
//!        `= (im2col(x̂) · W′)[p,o] + b_o + T[p,o]`, with `W′[t,c,o] = γ_c·W[t,c,o]` and the
//! position-dependent term `T[p,o] = Σ_{t valid at p} Σ_c β_c·W[t,c,o]` (the same for every
//! image). With `G = im2col(x̂)ᵀ·dout` and `S[t,o] = Σ_{p: t valid at p} Σ_n dout[n,p,o]`:
//! `dW = γ_c·G + β_c·S`, `db = Σ dout`, `dγ_c = Σ_{t,o} W·G`, `dβ_c = Σ_{t,o} W·S`.
//! This replaces the input-gradient product and its col2im by two cheap reductions.

use crate::engine::batch_norm::BatchNorm2d;
use crate::engine::conv2d::Conv2d;
use crate::engine::param::Param;
use crate::engine::tensor::{Tensor, items_per_task};
use rayon::prelude::*;

/// The fused input batch norm and first convolution.
#[derive(Debug, Clone)]
pub struct InputConv {
    /// The batch norm (its γ, β and running statistics).
    pub bn: BatchNorm2d,
    /// The convolution (its W and b); `groups` must be 1.
    pub conv: Conv2d,
    /// The convolution actually run: weights W′ = γ·W, bias b, on x̂.
    scaled: Conv2d,
    normalized: Tensor,
}

/// For each output position p and tap t, whether the tap reads inside the input.
fn tap_valid(
    conv: &Conv2d,
    side_in: [usize; 2],
    oy: usize,
    ox: usize,
    ky: usize,
    kx: usize,
) -> bool {
    let s = conv.spec;
    let iy = (oy * s.stride + ky) as isize - s.padding as isize;
    let ix = (ox * s.stride + kx) as isize - s.padding as isize;
    iy >= 0 && (iy as usize) < side_in[0] && ix >= 0 && (ix as usize) < side_in[1]
}

impl InputConv {
    /// Fuses `bn` (over the convolution's input channels) with `conv`.
    pub fn new(bn: BatchNorm2d, conv: Conv2d) -> InputConv {
        assert_eq!(conv.spec.groups, 1, "fused input convolution has one group");
        assert_eq!(
            bn.channels(),
            conv.spec.in_channels,
            "batch norm feeds the convolution"
        );
        let scaled = conv.clone();
        InputConv {
            bn,
            conv,
            scaled,
            normalized: Tensor::empty(),
        }
    }

    /// Forward into `out`: batch statistics (updating the running ones) when `train`, running
    /// statistics otherwise.
    pub fn forward(&mut self, input: &Tensor, train: bool, out: &mut Tensor) {
        self.bn.normalize(input, train, &mut self.normalized);
        let spec = self.conv.spec;
        let (cin, cout) = (spec.in_channels, spec.out_channels);
        let gamma = &self.bn.gamma.value;
        for (i, (scaled, w)) in self
            .scaled
            .weight
            .value
            .iter_mut()
            .zip(&self.conv.weight.value)
            .enumerate()
        {
            *scaled = gamma[(i / cout) % cin] * w;
        }
        self.scaled.bias.value.clone_from(&self.conv.bias.value);
        self.scaled.forward(&self.normalized, out);
        // B[t,o] = Σ_c β_c·W[t,c,o]; T[p,o] = Σ_{t valid at p} B[t,o], added to every image.
        let beta = &self.bn.beta.value;
        let taps = spec.kernel * spec.kernel;
        let mut b = vec![0f32; taps * cout];
        for t in 0..taps {
            for c in 0..cin {
                for o in 0..cout {
                    b[t * cout + o] += beta[c] * self.conv.weight.value[(t * cin + c) * cout + o];
                }
            }
        }
        let side_in = [input.dims[1], input.dims[2]];
        let [_, oh, ow, _] = out.dims;
        let mut table = vec![0f32; oh * ow * cout];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &mut table[(oy * ow + ox) * cout..][..cout];
                for ky in 0..spec.kernel {
                    for kx in 0..spec.kernel {
                        if tap_valid(&self.conv, side_in, oy, ox, ky, kx) {
                            let t = ky * spec.kernel + kx;
                            row.iter_mut()
                                .zip(&b[t * cout..][..cout])
                                .for_each(|(r, v)| *r += v);
                        }
                    }
                }
            }
        }
        out.data
            .par_chunks_exact_mut(oh * ow * cout)
            .for_each(|image| image.iter_mut().zip(&table).for_each(|(o, t)| *o += t));
    }

    /// Backward from `dout` (of the last forward, which must have been in training mode): adds
    /// the gradients of W, b, γ and β.
    pub fn backward(&mut self, dout: &Tensor) {
        let spec = self.conv.spec;
        let (cin, cout) = (spec.in_channels, spec.out_channels);
        let taps = spec.kernel * spec.kernel;
        self.scaled.weight.zero_grad();
        self.scaled.bias.zero_grad();
        self.scaled.backward(dout, true, None);
        let g = &self.scaled.weight.grad;
        // R[p,o] = Σ_n dout[n,p,o]; S[t,o] = Σ_{p: t valid at p} R[p,o].
        let [_, oh, ow, _] = dout.dims;
        let item = oh * ow * cout;
        let partials: Vec<Vec<f32>> = dout
            .data
            .par_chunks(items_per_task(dout.batch()) * item)
            .map(|images| {
                let mut r = vec![0f32; item];
                for image in images.chunks_exact(item) {
                    r.iter_mut().zip(image).for_each(|(r, d)| *r += d);
                }
                r
            })
            .collect();
        let mut r = vec![0f32; item];
        for partial in &partials {
            r.iter_mut().zip(partial).for_each(|(r, p)| *r += p);
        }
        let side_in = [self.normalized.dims[1], self.normalized.dims[2]];
        let mut s = vec![0f32; taps * cout];
        for oy in 0..oh {
            for ox in 0..ow {
                let row = &r[(oy * ow + ox) * cout..][..cout];
                for ky in 0..spec.kernel {
                    for kx in 0..spec.kernel {
                        if tap_valid(&self.conv, side_in, oy, ox, ky, kx) {
                            let t = ky * spec.kernel + kx;
                            s[t * cout..][..cout]
                                .iter_mut()
                                .zip(row)
                                .for_each(|(s, v)| *s += v);
                        }
                    }
                }
            }
        }
        let (gamma, beta, w) = (
            &self.bn.gamma.value,
            &self.bn.beta.value,
            &self.conv.weight.value,
        );
        let mut dw = vec![0f32; w.len()];
        let (mut dgamma, mut dbeta) = (vec![0f32; cin], vec![0f32; cin]);
        for t in 0..taps {
            for c in 0..cin {
                for o in 0..cout {
                    let i = (t * cin + c) * cout + o;
                    dw[i] = gamma[c] * g[i] + beta[c] * s[t * cout + o];
                    dgamma[c] += w[i] * g[i];
                    dbeta[c] += w[i] * s[t * cout + o];
                }
            }
        }
        self.conv.weight.accumulate_grad(&dw);
        self.conv.bias.accumulate_grad(&self.scaled.bias.grad);
        self.bn.gamma.accumulate_grad(&dgamma);
        self.bn.beta.accumulate_grad(&dbeta);
    }

    /// The trainable parameters: γ, β, W, b.
    pub fn params_mut(&mut self) -> [&mut Param; 4] {
        [
            &mut self.bn.gamma,
            &mut self.bn.beta,
            &mut self.conv.weight,
            &mut self.conv.bias,
        ]
    }
}
