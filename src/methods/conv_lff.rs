//! Learning from Failure on LNTL's σ² benchmark (docs/LFF.md, "LfF on LNTL's benchmark"): LfF's
//! iteration (`methods::lff`) with two of the paper's conv nets (docs/SPEC.md §2) trained from
//! scratch, the biased f_B and the debiased f_D, each stepped by SGD as LNTL's benchmark trains
//! (momentum and weight decay from the run's settings, one rate) or by Adam as LfF's code does.
//! No color label is read.

use crate::engine::adam::Adam;
use crate::engine::sgd::{SgdConfig, sgd_step};
use crate::engine::tensor::Tensor;
use crate::methods::batch::Batch;
use crate::methods::lff::{LffAverages, LffStep, lff_losses};
use crate::methods::zero_grads;
use crate::models::convnet::ConvNet;

/// How f_B and f_D take their step.
#[derive(Debug)]
pub enum ConvLffOptimizers<'a> {
    /// SGD at rate `lr`, the momentum buffers in the parameters.
    Sgd {
        /// This step's rate.
        lr: f32,
        /// Momentum and weight decay.
        config: &'a SgdConfig,
    },
    /// Adam at rate `lr`, each network with its own moments.
    Adam {
        /// This step's rate.
        lr: f32,
        /// f_B's optimizer.
        biased: &'a mut Adam,
        /// f_D's optimizer.
        debiased: &'a mut Adam,
    },
}

/// One LfF iteration on `batch`, whose images are the training samples `indices`: f_B
/// (`biased`) and f_D (`debiased`) each take a step of `optimizers`.
pub fn conv_lff_step(
    biased: &mut ConvNet,
    debiased: &mut ConvNet,
    averages: &mut LffAverages,
    (batch, indices): (&Batch, &[usize]),
    optimizers: ConvLffOptimizers,
) -> LffStep {
    let forward = |net: &mut ConvNet| {
        zero_grads(net.params_mut());
        net.forward_features(&batch.x, true);
        net.forward_classifier().clone()
    };
    let (logits_b, logits_d) = (forward(biased), forward(debiased));
    let mut dlogits_b = Tensor::zeros(logits_b.dims);
    let mut dlogits_d = Tensor::zeros(logits_d.dims);
    let step = lff_losses(
        averages,
        (&logits_b, &logits_d),
        &batch.labels,
        indices,
        (&mut dlogits_b, &mut dlogits_d),
    );
    for (net, dlogits) in [(&mut *biased, &dlogits_b), (&mut *debiased, &dlogits_d)] {
        net.backward_classifier(dlogits);
        net.backward_features();
    }
    match optimizers {
        ConvLffOptimizers::Sgd { lr, config } => {
            for net in [biased, debiased] {
                sgd_step(net.params_mut(), lr, config);
            }
        }
        ConvLffOptimizers::Adam {
            lr,
            biased: biased_adam,
            debiased: debiased_adam,
        } => {
            for (net, adam) in [(biased, biased_adam), (debiased, debiased_adam)] {
                adam.config.lr = lr;
                adam.step(net.params_mut());
            }
        }
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::adam::AdamConfig;
    use crate::methods::batch::random_batch;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Adam's first step moves every weight by its rate against the sign of its gradient
    /// (m / √v = g / |g| after the bias corrections, for |g| ≫ ε), whatever the gradient's size.
    /// The gradients come from the same iteration stepped by plain SGD at rate 1 (Δw = −g), so
    /// each network must have taken its own Adam step at the given rate.
    #[test]
    fn adams_first_step_moves_each_network_by_its_rate() {
        let n = 8;
        let batch = random_batch(5, n);
        let indices: Vec<usize> = (0..n).collect();
        let nets = || {
            let mut rng = ChaCha8Rng::seed_from_u64(0);
            (ConvNet::new(&mut rng), ConvNet::new(&mut rng))
        };
        let values = |net: &mut ConvNet| -> Vec<f32> {
            net.params_mut()
                .into_iter()
                .flat_map(|p| p.value.clone())
                .collect()
        };
        let (mut sgd_b, mut sgd_d) = nets();
        let before = [values(&mut sgd_b), values(&mut sgd_d)];
        let plain = SgdConfig {
            lr: 1.0,
            momentum: 0.0,
            weight_decay: 0.0,
            decay_rate: 1.0,
            decay_period: 1,
        };
        let sgd = ConvLffOptimizers::Sgd {
            lr: 1.0,
            config: &plain,
        };
        let mut averages = LffAverages::new(&batch.labels);
        conv_lff_step(
            &mut sgd_b,
            &mut sgd_d,
            &mut averages,
            (&batch, &indices),
            sgd,
        );

        let (mut adam_b, mut adam_d) = nets();
        let lr = 1e-3;
        let (mut biased, mut debiased) = (
            Adam::new(AdamConfig::pytorch(0.5)),
            Adam::new(AdamConfig::pytorch(0.5)),
        );
        let adam = ConvLffOptimizers::Adam {
            lr,
            biased: &mut biased,
            debiased: &mut debiased,
        };
        let mut averages = LffAverages::new(&batch.labels);
        conv_lff_step(
            &mut adam_b,
            &mut adam_d,
            &mut averages,
            (&batch, &indices),
            adam,
        );

        let mut checked = 0;
        for (i, (sgd_net, adam_net)) in [(&mut sgd_b, &mut adam_b), (&mut sgd_d, &mut adam_d)]
            .into_iter()
            .enumerate()
        {
            let (after_sgd, after_adam) = (values(sgd_net), values(adam_net));
            for ((w0, ws), wa) in before[i].iter().zip(&after_sgd).zip(&after_adam) {
                let gradient = w0 - ws;
                if gradient.abs() > 1e-4 {
                    let expected = w0 - lr * gradient.signum();
                    assert!((wa - expected).abs() < 1e-6, "{wa} against {expected}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "only {checked} weights had a gradient");
        assert!(biased.state.iter().all(|s| s.step == 1));
        assert!(debiased.state.iter().all(|s| s.step == 1));
    }
}
