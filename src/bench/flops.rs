//! Multiply-adds per image of the paper's networks, counted as docs/SPEC.md §3 counts them: a
//! convolution costs `positions × out × k·k·in/groups` per pass, its backward the same again for
//! the weight gradient and for the input gradient (none for the first convolution, whose input
//! is the data), and phase-skipped work is not counted.

use crate::engine::conv::ConvSpec;
use crate::models::color_heads::{CONV_A, CONV_B};
use crate::models::convnet::CONV_SPECS;

/// Output sides of the four convolutions of f, g (28, 14, 7, 7).
const OUT_SIDES: [usize; 4] = [28, 14, 7, 7];
/// Output side of the heads' convolutions.
const HEAD_SIDE: usize = 14;

fn conv_macs(spec: &ConvSpec, side: usize) -> f64 {
    (side * side * spec.out_channels * spec.group_cols()) as f64
}

fn fc_macs() -> f64 {
    64.0 * 10.0
}

/// Forward through f and g.
pub fn forward_macs() -> f64 {
    features_macs() + classifier_macs()
}

fn features_macs() -> f64 {
    conv_macs(&CONV_SPECS[0], OUT_SIDES[0]) + conv_macs(&CONV_SPECS[1], OUT_SIDES[1])
}

fn classifier_macs() -> f64 {
    conv_macs(&CONV_SPECS[2], OUT_SIDES[2]) + conv_macs(&CONV_SPECS[3], OUT_SIDES[3]) + fc_macs()
}

/// Backward through f from φ: weight and input gradients, no input gradient for conv1.
fn features_backward_macs() -> f64 {
    conv_macs(&CONV_SPECS[0], OUT_SIDES[0]) + 2.0 * conv_macs(&CONV_SPECS[1], OUT_SIDES[1])
}

fn heads_macs() -> f64 {
    conv_macs(&CONV_A, HEAD_SIDE) + conv_macs(&CONV_B, HEAD_SIDE)
}

/// One baseline step: forward and backward of f, g.
pub fn baseline_step_macs() -> f64 {
    forward_macs() + 2.0 * classifier_macs() + features_backward_macs()
}

/// One LNTL iteration. Phase 1: f, g forward and backward, heads forward and input-gradient
/// backward. Phase 2: f forward, heads forward, heads backward (weights and input), f backward.
pub fn lntl_step_macs() -> f64 {
    let phase1 = baseline_step_macs() + 2.0 * heads_macs();
    let phase2 = features_macs() + 3.0 * heads_macs() + features_backward_macs();
    phase1 + phase2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_spec_counts() {
        // docs/SPEC.md §3: phase 1 ≈ 30.9 M, phase 2 ≈ 29.5 M multiply-adds per image; a baseline step
        // ≈ 4.4 GFLOP and an LNTL iteration ≈ 15.5 GFLOP at batch 128.
        let gflop = |macs: f64| 2.0 * 128.0 * macs / 1e9;
        assert!(
            (gflop(baseline_step_macs()) - 4.4).abs() < 0.05,
            "{}",
            gflop(baseline_step_macs())
        );
        assert!(
            (gflop(lntl_step_macs()) - 15.5).abs() < 0.05,
            "{}",
            gflop(lntl_step_macs())
        );
    }
}
