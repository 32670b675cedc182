//! Adam, as `torch.optim.Adam` computes it (no AMSGrad; L2 weight decay added to the gradient):
//! per parameter, with its own step count t,
//! `g ← grad + wd·p`; `m ← m + (1 − β₁)(g − m)` (PyTorch's lerp); `v ← β₂·v + (1 − β₂)·g²`;
//! `p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)`.
//! Parameters without a gradient in a step are skipped, their moments and count unchanged, as
//! PyTorch skips `.grad is None`.

use crate::engine::param::Param;

/// Adam's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the denominator.
    pub eps: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
}

impl AdamConfig {
    /// PyTorch's defaults (β = (0.9, 0.999), ε = 1e-8, no weight decay) at rate `lr`.
    pub const fn pytorch(lr: f32) -> AdamConfig {
        AdamConfig {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// One parameter's state: its step count and moments (empty before its first step).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AdamMoments {
    /// Steps taken.
    pub step: u64,
    /// First moment m.
    pub m: Vec<f32>,
    /// Second moment v.
    pub v: Vec<f32>,
}

/// Adam over a fixed list of parameters (the same order at every step).
#[derive(Debug, Clone, PartialEq)]
pub struct Adam {
    /// The hyper-parameters.
    pub config: AdamConfig,
    /// Each parameter's state, in the order of the parameters passed to [`Adam::step`].
    pub state: Vec<AdamMoments>,
}

impl Adam {
    /// An optimizer that has taken no step.
    pub fn new(config: AdamConfig) -> Adam {
        Adam {
            config,
            state: Vec::new(),
        }
    }

    /// One step on every parameter that has a gradient.
    pub fn step<'a>(&mut self, params: impl IntoIterator<Item = &'a mut Param>) {
        let c = self.config;
        for (i, p) in params.into_iter().enumerate() {
            if self.state.len() <= i {
                self.state.resize_with(i + 1, AdamMoments::default);
            }
            if !p.has_grad {
                continue;
            }
            let s = &mut self.state[i];
            if s.m.is_empty() {
                s.m.resize(p.value.len(), 0.0);
                s.v.resize(p.value.len(), 0.0);
            }
            s.step += 1;
            // The bias corrections in f64, as PyTorch computes these Python floats.
            let t = s.step as i32;
            let correction1 = 1.0 - f64::from(c.beta1).powi(t);
            let correction2_sqrt = (1.0 - f64::from(c.beta2).powi(t)).sqrt();
            let step_size = (f64::from(c.lr) / correction1) as f32;
            let correction2_sqrt = correction2_sqrt as f32;
            for (((w, &g), m), v) in p
                .value
                .iter_mut()
                .zip(&p.grad)
                .zip(s.m.iter_mut())
                .zip(s.v.iter_mut())
            {
                let g = g + c.weight_decay * *w;
                *m += (1.0 - c.beta1) * (g - *m);
                *v = c.beta2 * *v + (1.0 - c.beta2) * g * g;
                let denominator = v.sqrt() / correction2_sqrt + c.eps;
                *w -= step_size * *m / denominator;
            }
        }
    }
}
