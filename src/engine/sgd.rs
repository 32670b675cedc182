//! SGD with momentum and weight decay, exactly as `torch.optim.SGD` (no dampening, no Nesterov):
//! `g ← grad + wd·p`; `buf ← g` on the first step, else `buf ← m·buf + g`; `p ← p − lr·buf`.
//! Parameters without a gradient in this step are skipped, as PyTorch skips `.grad is None`.
//! The learning rate follows a step schedule: `lr = base · rate^⌊epoch / period⌋`.

use crate::engine::param::Param;
use serde::{Deserialize, Serialize};

/// Optimizer hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Base learning rate.
    pub lr: f32,
    /// Momentum factor.
    pub momentum: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// Multiplier applied every `decay_period` epochs.
    pub decay_rate: f32,
    /// Epochs between decays.
    pub decay_period: usize,
}

impl SgdConfig {
    /// The learning rate in `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize) -> f32 {
        self.lr
            * self
                .decay_rate
                .powi((epoch / self.decay_period.max(1)) as i32)
    }
}

/// One SGD step on every parameter that has a gradient.
pub fn sgd_step<'a>(params: impl IntoIterator<Item = &'a mut Param>, lr: f32, config: &SgdConfig) {
    for p in params {
        if !p.has_grad {
            continue;
        }
        let first = p.momentum.is_empty();
        if first {
            p.momentum.resize(p.value.len(), 0.0);
        }
        for ((v, g), b) in p.value.iter_mut().zip(&p.grad).zip(p.momentum.iter_mut()) {
            let d = g + config.weight_decay * *v;
            *b = if first { d } else { config.momentum * *b + d };
            *v -= lr * *b;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_pytorch_update_rule() {
        let config = SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            weight_decay: 0.01,
            decay_rate: 0.1,
            decay_period: 40,
        };
        let mut p = Param::new("p", vec![1], vec![1.0]);
        p.accumulate_grad(&[0.5]);
        sgd_step([&mut p], 0.1, &config);
        // d = 0.5 + 0.01 = 0.51; buf = 0.51; p = 1 − 0.051
        assert!((p.value[0] - 0.949).abs() < 1e-6);
        sgd_step([&mut p], 0.1, &config);
        // d = 0.5 + 0.00949; buf = 0.9·0.51 + 0.50949 = 0.96849; p = 0.949 − 0.096849
        assert!((p.value[0] - 0.852151).abs() < 1e-6);
        p.zero_grad();
        sgd_step([&mut p], 0.1, &config);
        assert!((p.value[0] - 0.852151).abs() < 1e-6, "no gradient, no step");
        assert!((config.lr_at(39) - 0.1).abs() < 1e-9 && (config.lr_at(40) - 0.01).abs() < 1e-9);
    }
}
