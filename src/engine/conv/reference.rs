//! Convolution by direct summation, forward and backward: the definition every lowering is
//! tested against. Slow and plain on purpose; nothing in training calls it.
//!
//! Forward, per image n, output position (oy, ox), group g and output channel co:
//! `out[n,oy,ox,g·Cout_g+co] = b[g·Cout_g+co] + Σ_{ky,kx,ci} x[n, oy·s+ky−p, ox·s+kx−p, g·Cin_g+ci] · W_g[ky][kx][ci][co]`,
//! the terms whose input position falls in the padding being zero. The output is linear in x
//! and in W, so the gradients of `L = Σ out ⊙ dout` visit the same terms:
//! `dx[..] += dout[..]·W_g[..]`, `dW_g[..] += x[..]·dout[..]`, `db[c] = Σ_{n,oy,ox} dout[n,oy,ox,c]`.

use crate::engine::conv::ConvSpec;
use crate::engine::tensor::Tensor;

/// Calls `visit(x_index, w_index, out_index)` for every term of the sum above, on an input of
/// `dims` (NHWC): the flat indices of the input value, the weight and the output value it joins.
fn for_each_term(spec: &ConvSpec, dims: [usize; 4], mut visit: impl FnMut(usize, usize, usize)) {
    let [n, h, w, cin] = dims;
    let (oh, ow, k) = (spec.out_side(h), spec.out_side(w), spec.kernel);
    let (gin, gout) = (spec.group_in(), spec.group_out());
    let inside = |at: usize, side: usize| at.checked_sub(spec.padding).filter(|&i| i < side);
    for image in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                let out_row = ((image * oh + oy) * ow + ox) * spec.out_channels;
                for ky in 0..k {
                    let Some(iy) = inside(oy * spec.stride + ky, h) else {
                        continue;
                    };
                    for kx in 0..k {
                        let Some(ix) = inside(ox * spec.stride + kx, w) else {
                            continue;
                        };
                        let x_row = ((image * h + iy) * w + ix) * cin;
                        for g in 0..spec.groups {
                            for ci in 0..gin {
                                let w_row =
                                    g * spec.group_weights() + ((ky * k + kx) * gin + ci) * gout;
                                for co in 0..gout {
                                    visit(
                                        x_row + g * gin + ci,
                                        w_row + co,
                                        out_row + g * gout + co,
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The convolution of `x` with weights `[group][ky][kx][ci][co]` and `bias`.
pub fn forward(spec: &ConvSpec, x: &Tensor, weight: &[f32], bias: &[f32]) -> Tensor {
    let [n, h, w, _] = x.dims;
    let mut out = Tensor::zeros([n, spec.out_side(h), spec.out_side(w), spec.out_channels]);
    for row in out.data.chunks_exact_mut(spec.out_channels) {
        row.copy_from_slice(bias);
    }
    for_each_term(spec, x.dims, |xi, wi, oi| {
        out.data[oi] += x.data[xi] * weight[wi]
    });
    out
}

/// Gradients of a convolution's inputs, given the output gradient.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvGradients {
    /// With respect to the input.
    pub input: Tensor,
    /// With respect to the weights, `[group][ky][kx][ci][co]`.
    pub weight: Vec<f32>,
    /// With respect to the bias.
    pub bias: Vec<f32>,
}

/// The gradients of `Σ forward(x)·dout` with respect to x, the weights and the bias.
pub fn backward(spec: &ConvSpec, x: &Tensor, weight: &[f32], dout: &Tensor) -> ConvGradients {
    let mut grads = ConvGradients {
        input: Tensor::zeros(x.dims),
        weight: vec![0.0; weight.len()],
        bias: vec![0.0; spec.out_channels],
    };
    for_each_term(spec, x.dims, |xi, wi, oi| {
        grads.input.data[xi] += dout.data[oi] * weight[wi];
        grads.weight[wi] += x.data[xi] * dout.data[oi];
    });
    for row in dout.data.chunks_exact(spec.out_channels) {
        for (db, d) in grads.bias.iter_mut().zip(row) {
            *db += d;
        }
    }
    grads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::conv::test_values as values;

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(a, b)| *a as f64 * *b as f64).sum()
    }

    /// One hand-computed value: a 1-channel 3×3 input, a 2×2 kernel of ones, stride 1, padding
    /// 0, bias 0.5: the top-left output is 0.5 + 1 + 2 + 4 + 5.
    #[test]
    fn sums_the_window_under_the_kernel() {
        let spec = ConvSpec {
            in_channels: 1,
            out_channels: 1,
            kernel: 2,
            stride: 1,
            padding: 0,
            groups: 1,
        };
        let x = Tensor::from_vec([1, 3, 3, 1], (1..=9).map(|v| v as f32).collect());
        let out = forward(&spec, &x, &[1.0; 4], &[0.5]);
        assert_eq!(out.dims, [1, 2, 2, 1]);
        assert_eq!(out.data, vec![12.5, 16.5, 24.5, 28.5]);
    }

    /// The backward pass is the forward pass's derivative: L = Σ out·dout is linear in each of
    /// x, W and b, so a central difference of L along a random direction is exact up to
    /// rounding, and must equal the gradient's dot product with that direction. Covers groups,
    /// stride 2 and padding.
    #[test]
    fn backward_is_the_derivative_of_forward() {
        let spec = ConvSpec {
            in_channels: 4,
            out_channels: 6,
            kernel: 3,
            stride: 2,
            padding: 1,
            groups: 2,
        };
        let x = Tensor::from_vec([2, 5, 6, 4], values(240, 0.1));
        let w = values(spec.groups * spec.group_weights(), 0.7);
        let b = values(6, 1.3);
        let out = forward(&spec, &x, &w, &b);
        let dout = Tensor::from_vec(out.dims, values(out.data.len(), 2.9));
        let grads = backward(&spec, &x, &w, &dout);
        let loss =
            |x: &Tensor, w: &[f32], b: &[f32]| dot(&forward(&spec, x, w, b).data, &dout.data);
        let step = |v: &[f32], dir: &[f32], h: f32| -> Vec<f32> {
            v.iter().zip(dir).map(|(v, d)| v + h * d).collect()
        };
        let h = 0.5;
        let dir_x = Tensor::from_vec(x.dims, values(x.data.len(), 4.4));
        let x_at = |h| Tensor::from_vec(x.dims, step(&x.data, &dir_x.data, h));
        let dir_w = values(w.len(), 5.5);
        let dir_b = values(b.len(), 6.6);
        let checks = [
            (
                "dx",
                (loss(&x_at(h), &w, &b) - loss(&x_at(-h), &w, &b)) / (2.0 * h as f64),
                dot(&grads.input.data, &dir_x.data),
            ),
            (
                "dW",
                (loss(&x, &step(&w, &dir_w, h), &b) - loss(&x, &step(&w, &dir_w, -h), &b))
                    / (2.0 * h as f64),
                dot(&grads.weight, &dir_w),
            ),
            (
                "db",
                (loss(&x, &w, &step(&b, &dir_b, h)) - loss(&x, &w, &step(&b, &dir_b, -h)))
                    / (2.0 * h as f64),
                dot(&grads.bias, &dir_b),
            ),
        ];
        for (what, numeric, analytic) in checks {
            assert!(analytic.abs() > 1.0, "{what}: a trivial check ({analytic})");
            assert!(
                (numeric - analytic).abs() <= 1e-3 * analytic.abs(),
                "{what}: finite difference {numeric} vs gradient {analytic}"
            );
        }
    }
}
