//! LfF's per-sample loss averages (docs/LFF.md §3): for every training sample, a moving average
//! of its loss under one model, `e ← ℓ` on the sample's first visit and `e ← α·e + (1 − α)·ℓ`
//! after (LfF's code writes `α·e + (1 − α·seen)·ℓ`, α = 0.7), and the class-wise
//! normalization `ẽ = e / max_{j of the same class} e_j` over all training samples (unvisited
//! ones count as 0). LfF weighs the debiased model's loss by `ẽ_B / (ẽ_B + ẽ_D + 1e-8)`.

use crate::data::mnist::CLASSES;

/// The moving average of every training sample's loss under one model.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleLossAverages {
    /// α.
    pub alpha: f32,
    /// Each sample's class.
    labels: Vec<u8>,
    /// Each sample's average (0 before its first visit).
    values: Vec<f32>,
    /// Whether the sample was visited.
    seen: Vec<bool>,
}

impl SampleLossAverages {
    /// Averages for the training samples of classes `labels`, none visited yet.
    pub fn new(labels: &[u8], alpha: f32) -> SampleLossAverages {
        SampleLossAverages {
            alpha,
            labels: labels.to_vec(),
            values: vec![0.0; labels.len()],
            seen: vec![false; labels.len()],
        }
    }

    /// Takes in the losses of the samples `indices`.
    pub fn update(&mut self, indices: &[usize], losses: &[f32]) {
        for (&i, &loss) in indices.iter().zip(losses) {
            let seen = if self.seen[i] { 1.0 } else { 0.0 };
            self.values[i] = self.alpha * self.values[i] + (1.0 - self.alpha * seen) * loss;
            self.seen[i] = true;
        }
    }

    /// Every sample's average, 0 before its first visit.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// Every sample's average and whether it was visited, as a checkpoint stores them.
    pub fn state(&self) -> (&[f32], &[bool]) {
        (&self.values, &self.seen)
    }

    /// Puts back a state from [`SampleLossAverages::state`] (of the same training set).
    pub fn restore(&mut self, values: Vec<f32>, seen: Vec<bool>) {
        assert!(
            values.len() == self.labels.len() && seen.len() == self.labels.len(),
            "loss averages of another training set"
        );
        self.values = values;
        self.seen = seen;
    }

    /// The largest average of each class.
    fn class_max(&self) -> [f32; CLASSES] {
        let mut max = [0.0f32; CLASSES];
        for (&l, &v) in self.labels.iter().zip(&self.values) {
            let m = &mut max[usize::from(l)];
            *m = m.max(v);
        }
        max
    }

    /// The class-normalized averages `e_i / max_class(e)` of the samples `indices`.
    pub fn normalized(&self, indices: &[usize]) -> Vec<f32> {
        let max = self.class_max();
        indices
            .iter()
            .map(|&i| self.values[i] / max[usize::from(self.labels[i])])
            .collect()
    }
}

/// LfF's weight of each sample of `indices` in the debiased model's loss:
/// `ẽ_B / (ẽ_B + ẽ_D + 1e-8)`, high for samples the biased model finds hard.
pub fn relative_difficulty(
    biased: &SampleLossAverages,
    debiased: &SampleLossAverages,
    indices: &[usize],
) -> Vec<f32> {
    biased
        .normalized(indices)
        .iter()
        .zip(debiased.normalized(indices))
        .map(|(&b, d)| b / (b + d + 1e-8))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_normalization_and_weights_by_hand() {
        // Samples 0 and 1 of class 0, sample 2 of class 1.
        let mut b = SampleLossAverages::new(&[0, 0, 1], 0.7);
        b.update(&[0, 2], &[2.0, 1.0]);
        assert_eq!(b.values, [2.0, 0.0, 1.0], "the first visit stores the loss");
        b.update(&[0, 1], &[1.0, 4.0]);
        // 0.7·2 + 0.3·1 = 1.7; sample 1's first visit: 4.
        assert!((b.values[0] - 1.7).abs() < 1e-6);
        assert_eq!(b.values[1], 4.0);
        let normalized = b.normalized(&[0, 1, 2]);
        assert!((normalized[0] - 1.7 / 4.0).abs() < 1e-6);
        assert_eq!(normalized[1..], [1.0, 1.0]);

        let mut d = SampleLossAverages::new(&[0, 0, 1], 0.7);
        d.update(&[0, 1, 2], &[1.0, 1.0, 3.0]);
        // Debiased normalized: 1, 1, 1. Weights ẽ_B / (ẽ_B + ẽ_D): 0.425/1.425, 1/2, 1/2.
        let w = relative_difficulty(&b, &d, &[0, 1, 2]);
        assert!((w[0] - 0.425 / 1.425).abs() < 1e-6);
        assert!((w[1] - 0.5).abs() < 1e-6 && (w[2] - 0.5).abs() < 1e-6);
    }

    /// The weight keeps LfF's ε: where both normalized averages are small it shows.
    #[test]
    fn weight_adds_epsilon_to_its_denominator() {
        let mut biased = SampleLossAverages::new(&[0, 0], 0.7);
        biased.update(&[0, 1], &[0.001, 1.0]);
        let w = relative_difficulty(&biased, &biased.clone(), &[0])[0];
        // ẽ_B = ẽ_D = 0.001: 0.001 / (0.002 + 1e-8) = 0.4999975…, 0.5000025… with −1e-8.
        let want = 0.001 / (0.002 + 1e-8);
        assert!((f64::from(w) - want).abs() < 1e-7, "{w} against {want}");
    }

    /// What a checkpoint stores puts back every average and which samples were visited: a
    /// fresh instance restored from it equals the original, and a later update then treats
    /// sample 0 as seen and sample 1 as new in both.
    #[test]
    fn state_restores_into_fresh_averages() {
        let mut averages = SampleLossAverages::new(&[0, 1, 1], 0.7);
        averages.update(&[0, 2], &[2.0, 0.5]);
        let (values, seen) = averages.state();
        assert_eq!(
            (values, seen),
            (&[2.0, 0.0, 0.5][..], &[true, false, true][..])
        );
        let mut restored = SampleLossAverages::new(&[0, 1, 1], 0.7);
        restored.restore(values.to_vec(), seen.to_vec());
        assert_eq!(restored, averages);
        averages.update(&[0, 1], &[1.0, 3.0]);
        restored.update(&[0, 1], &[1.0, 3.0]);
        assert_eq!(restored, averages);
        assert_eq!(restored.values()[1], 3.0, "sample 1's first visit");
    }
}
