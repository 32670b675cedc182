//! Conversions between PyTorch's layouts (NCHW activations, OIHW conv weights) and the engine's
//! (NHWC, `[group][ky][kx][ci][co]`), for golden fixtures and for importing weights.

use crate::engine::conv::ConvSpec;

/// Calls `f(oihw_index, our_index)` for every weight of a convolution: the positions of one
/// weight in OIHW (O = out channels, I = in channels per group) and in `[group][ky][kx][ci][co]`.
fn for_each_weight(spec: &ConvSpec, mut f: impl FnMut(usize, usize)) {
    let (k, gin, gout) = (spec.kernel, spec.group_in(), spec.group_out());
    for g in 0..spec.groups {
        for co in 0..gout {
            for ci in 0..gin {
                for ky in 0..k {
                    for kx in 0..k {
                        let oihw = (((g * gout + co) * gin + ci) * k + ky) * k + kx;
                        let ours =
                            g * spec.group_weights() + ((ky * k + kx) * gin + ci) * gout + co;
                        f(oihw, ours);
                    }
                }
            }
        }
    }
}

/// OIHW → `[group][ky][kx][ci][co]`.
pub fn conv_weight_from_oihw(oihw: &[f32], spec: &ConvSpec) -> Vec<f32> {
    let mut out = vec![0.0; oihw.len()];
    for_each_weight(spec, |src, dst| out[dst] = oihw[src]);
    out
}

/// `[group][ky][kx][ci][co]` → OIHW.
pub fn conv_weight_to_oihw(ours: &[f32], spec: &ConvSpec) -> Vec<f32> {
    let mut out = vec![0.0; ours.len()];
    for_each_weight(spec, |dst, src| out[dst] = ours[src]);
    out
}

/// NCHW → NHWC.
pub fn nchw_to_nhwc(x: &[f32], dims_nchw: [usize; 4]) -> Vec<f32> {
    let [n, c, h, w] = dims_nchw;
    let mut out = vec![0.0; x.len()];
    for i in 0..n {
        for ch in 0..c {
            for y in 0..h {
                for xx in 0..w {
                    out[((i * h + y) * w + xx) * c + ch] = x[((i * c + ch) * h + y) * w + xx];
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6 → 4 grouped 3×3 convolution: 2 groups of 3 inputs and 2 outputs.
    fn grouped_3x3() -> ConvSpec {
        ConvSpec {
            in_channels: 6,
            out_channels: 4,
            kernel: 3,
            stride: 1,
            padding: 1,
            groups: 2,
        }
    }

    /// One weight's two positions worked out by hand: in a 6→4 grouped 3×3 convolution (2 groups
    /// of 3 inputs and 2 outputs) the weight of group 1, output 0, input 2, row 1, column 2 sits
    /// at OIHW (((1·2+0)·3+2)·3+1)·3+2 = 77, and in ours at 1·54 + ((1·3+2)·3+2)·2+0 = 88.
    #[test]
    fn conv_weight_position_by_hand() {
        let spec = grouped_3x3();
        let mut oihw = vec![0.0; 108];
        oihw[77] = 1.0;
        let ours = conv_weight_from_oihw(&oihw, &spec);
        assert_eq!(ours.iter().position(|&v| v == 1.0), Some(88));
        assert_eq!(conv_weight_to_oihw(&ours, &spec), oihw);
    }

    #[test]
    fn conv_weight_round_trip() {
        let spec = grouped_3x3();
        let w: Vec<f32> = (0..spec.groups * spec.group_weights())
            .map(|i| i as f32)
            .collect();
        assert_eq!(
            conv_weight_to_oihw(&conv_weight_from_oihw(&w, &spec), &spec),
            w
        );
    }
}
