//! The LNTL regularizer: the mean over rows of `Σ_k p_k log p_k` (the negative entropy of the
//! softmax `p` of each row of logits). Minimizing it drives predictions towards uniform.
//! Gradient per row: `∂/∂z_j = p_j·(log p_j − Σ_k p_k log p_k)`. Computed from log-softmax, so
//! a probability that underflows to 0 contributes 0·(finite log p) = 0 (the original code's
//! `p·log(p)` gives NaN).

use crate::engine::softmax::{Lanes, RowLayout, mean_row_loss};

/// Mean negative entropy over `rows` rows of logits (laid out as `layout` says);
/// adds `scale ×` its gradient to `grad` when given.
pub fn neg_entropy(
    logits: &[f32],
    layout: RowLayout,
    rows: usize,
    scale: f32,
    grad: Option<&mut [f32]>,
) -> f32 {
    let classes = layout.classes;
    mean_row_loss(logits, layout, rows, scale, grad, |softmax, d| {
        let (p, log_p) = (&softmax.p[..classes], &softmax.log_p[..classes]);
        let value = p
            .iter()
            .zip(log_p)
            .fold(Lanes::ZERO, |v, (&p, &l)| v + p * l);
        for k in 0..classes {
            d[k] = p[k] * (log_p[k] - value);
        }
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::softmax::ROWS_PER_BLOCK;

    /// Over several parallel blocks of rows, the value is the mean of the rows' own values and
    /// each row's gradient is its own gradient divided by the number of rows.
    #[test]
    fn many_rows_match_row_by_row_results() {
        let (classes, stride, offset) = (8, 24, 16);
        let rows = ROWS_PER_BLOCK + 333;
        let logits: Vec<f32> = (0..rows * stride)
            .map(|i| (i as f32 * 0.37).cos() * 2.0)
            .collect();
        let mut grad = vec![0.0; rows * stride];
        let layout = RowLayout {
            stride,
            offset,
            classes,
        };
        let value = neg_entropy(&logits, layout, rows, 0.5, Some(&mut grad));
        let mut want_total = 0f64;
        for r in 0..rows {
            let row = &logits[r * stride..][..stride];
            let mut g = vec![0.0; stride];
            want_total += f64::from(neg_entropy(row, layout, 1, 0.5, Some(&mut g)));
            for (k, g) in g.iter().enumerate() {
                let got = grad[r * stride + k];
                let want = g / rows as f32;
                assert!((got - want).abs() < 1e-7, "row {r}, {k}: {got} vs {want}");
            }
        }
        let want = (want_total / rows as f64) as f32;
        assert!(
            (value - want).abs() < 1e-5 * want.abs(),
            "{value} vs {want}"
        );
        assert!(value < 0.0 && grad.iter().any(|&g| g.abs() > 1e-7));
    }

    /// A probability that underflows to 0 contributes 0, not NaN: the value of a row that is
    /// certain is 0 and its gradient is finite.
    #[test]
    fn underflowing_probabilities_give_finite_results() {
        let logits = [0.0, -200.0, -300.0, 150.0];
        let mut grad = [0.0; 4];
        let value = neg_entropy(&logits, RowLayout::packed(4), 1, 1.0, Some(&mut grad));
        assert_eq!(value, 0.0);
        assert!(grad.iter().all(|g| g.is_finite()), "{grad:?}");
    }
}
