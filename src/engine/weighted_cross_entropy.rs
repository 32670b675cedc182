//! Cross-entropy with a weight per row, for LfF (docs/LFF.md §3): its debiased model's loss
//! `mean(W_i · CE_i)` and its biased model's generalized cross-entropy in LfF's code form,
//! `mean(q · p_{y,i}^q · CE_i)` with the weight `q · p_y^q` held constant (detached), whose
//! gradient is q · p_y^q times cross-entropy's. Rows are few (a batch of 256 × 10 logits), so
//! a plain loop suffices.
//! Loss `L = (1/N) Σ_i w_i · (log Σ_k e^{z_ik} − z_{i,y_i})`; gradient
//! `∂L/∂z_ik = (w_i / N) · (softmax(z_i)_k − [k = y_i])`.

/// Softmax probabilities and `log Σ_k e^{z_k}` of one row.
fn softmax_row(z: &[f32]) -> (Vec<f32>, f32) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = z.iter().map(|&v| (v - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    (exps.iter().map(|e| e / sum).collect(), max + sum.ln())
}

/// Each row's cross-entropy `log Σ e^z − z_y` (rows of `classes` logits).
pub fn per_sample_cross_entropy(logits: &[f32], labels: &[u8], classes: usize) -> Vec<f32> {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(z, &y)| softmax_row(z).1 - z[usize::from(y)])
        .collect()
}

/// The generalized cross-entropy's per-row weights in LfF's form: `q · p_y^q`.
pub fn gce_weights(logits: &[f32], labels: &[u8], classes: usize, q: f32) -> Vec<f32> {
    logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(z, &y)| q * softmax_row(z).0[usize::from(y)].powf(q))
        .collect()
}

/// `mean(w_i · CE_i)`; adds its gradient to `dlogits`.
pub fn weighted_cross_entropy(
    logits: &[f32],
    labels: &[u8],
    weights: &[f32],
    classes: usize,
    dlogits: &mut [f32],
) -> f32 {
    let n = labels.len();
    assert!(
        logits.len() == n * classes && weights.len() == n && dlogits.len() == logits.len(),
        "weighted cross-entropy: mismatched sizes"
    );
    let mut total = 0.0f64;
    for (((z, &y), &w), d) in logits
        .chunks_exact(classes)
        .zip(labels)
        .zip(weights)
        .zip(dlogits.chunks_exact_mut(classes))
    {
        let y = usize::from(y);
        let (p, log_sum) = softmax_row(z);
        total += f64::from(w * (log_sum - z[y]));
        let scale = w / n as f32;
        for (k, (d, p)) in d.iter_mut().zip(&p).enumerate() {
            *d += scale * (p - if k == y { 1.0 } else { 0.0 });
        }
    }
    (total / n as f64) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two classes, logits (0, 0): p = 1/2, CE = ln 2, GCE weight 0.7 · 0.5^0.7.
    #[test]
    fn values_by_hand() {
        let logits = [0.0, 0.0, 2.0, 0.0];
        let ce = per_sample_cross_entropy(&logits, &[1, 0], 2);
        assert!((ce[0] - std::f32::consts::LN_2).abs() < 1e-7);
        assert!((ce[1] - (1.0 + (-2.0f32).exp()).ln()).abs() < 1e-7);
        let w = gce_weights(&logits, &[1, 0], 2, 0.7);
        assert!((w[0] - 0.7 * 0.5f32.powf(0.7)).abs() < 1e-7);
        let mut d = [0.0; 4];
        let loss = weighted_cross_entropy(&logits, &[1, 0], &[2.0, 0.0], 2, &mut d);
        assert!(
            (loss - std::f32::consts::LN_2).abs() < 1e-7,
            "(2·ln 2 + 0) / 2"
        );
        assert_eq!(
            d,
            [0.5, -0.5, 0.0, 0.0],
            "(2/2)·(p − onehot) for row 0, nothing for row 1"
        );
    }
}
