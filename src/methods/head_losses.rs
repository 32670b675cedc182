//! Losses over the three heads' per-pixel logits (N×14×14×24, head h at channels 8h..8h+8).

use crate::colored::bias_labels::{BIAS_POSITIONS, IGNORE};
use crate::engine::cross_entropy::cross_entropy;
use crate::engine::neg_entropy::neg_entropy;
use crate::engine::softmax::{ROWS_PER_BLOCK, RowLayout};
use crate::engine::tensor::Tensor;
use crate::engine::uniform_confusion::uniform_confusion;
use crate::models::color_heads::{BINS, HEADS};
use rayon::prelude::*;

/// Head `h`'s labels in row order (n, position), from bias labels laid out `[n][h][position]`.
fn head_labels(bias: &[u8], h: usize) -> Vec<u8> {
    let mut labels = Vec::with_capacity(bias.len() / HEADS);
    for item in bias.chunks_exact(HEADS * BIAS_POSITIONS) {
        labels.extend_from_slice(&item[h * BIAS_POSITIONS..][..BIAS_POSITIONS]);
    }
    labels
}

/// `Σ_h CE_h`, each head's cross-entropy averaged over its labelled pixels; adds the gradient
/// to `grad`.
pub fn heads_cross_entropy(logits: &Tensor, bias: &[u8], grad: &mut Tensor) -> f32 {
    (0..HEADS)
        .map(|h| {
            let labels = head_labels(bias, h);
            cross_entropy(
                &logits.data,
                RowLayout::group(h, BINS, HEADS),
                &labels,
                Some(IGNORE),
                1.0,
                Some(&mut grad.data),
            )
        })
        .sum()
}

/// Labelled pixels whose bin the heads predict correctly, and labelled pixels, pooled over the
/// heads; in parallel over blocks of rows.
pub fn heads_accuracy(logits: &Tensor, bias: &[u8]) -> (usize, usize) {
    let row = HEADS * BINS;
    logits
        .data
        .par_chunks(ROWS_PER_BLOCK * row)
        .enumerate()
        .map(|(block, logits)| {
            let (mut correct, mut total) = (0, 0);
            for (r, z) in logits.chunks_exact(row).enumerate() {
                // Bias labels are laid out [n][h][position]; rows are (n, position).
                let (n, position) = (
                    (block * ROWS_PER_BLOCK + r) / BIAS_POSITIONS,
                    (block * ROWS_PER_BLOCK + r) % BIAS_POSITIONS,
                );
                for h in 0..HEADS {
                    let label = bias[(n * HEADS + h) * BIAS_POSITIONS + position];
                    if label == IGNORE {
                        continue;
                    }
                    let z = &z[h * BINS..][..BINS];
                    let best = (0..BINS)
                        .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                        .expect("bins");
                    correct += usize::from(best == usize::from(label));
                    total += 1;
                }
            }
            (correct, total)
        })
        .reduce(|| (0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// A per-pixel loss over one head's slice of the logits (see `engine::neg_entropy`).
type PixelLoss = fn(&[f32], RowLayout, usize, f32, Option<&mut [f32]>) -> f32;

/// `scale ×` the mean over heads of each head's mean `loss` over its pixels; adds the gradient.
fn heads_mean(logits: &Tensor, scale: f32, grad: &mut Tensor, loss: PixelLoss) -> f32 {
    let rows = logits.rows();
    let total: f32 = (0..HEADS)
        .map(|h| {
            loss(
                &logits.data,
                RowLayout::group(h, BINS, HEADS),
                rows,
                scale / HEADS as f32,
                Some(&mut grad.data),
            )
        })
        .sum();
    total / HEADS as f32
}

/// `scale ×` the mean over heads of each head's mean negative entropy; adds the gradient.
pub fn heads_neg_entropy(logits: &Tensor, scale: f32, grad: &mut Tensor) -> f32 {
    heads_mean(logits, scale, grad, neg_entropy)
}

/// `scale ×` the mean over heads of each head's mean confusion loss; adds the gradient.
pub fn heads_confusion(logits: &Tensor, scale: f32, grad: &mut Tensor) -> f32 {
    heads_mean(logits, scale, grad, uniform_confusion)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over several blocks of rows, each head's prediction at each pixel is compared with that
    /// head's label at that pixel (labels laid out [n][h][position]); ignored pixels do not
    /// count.
    #[test]
    fn accuracy_counts_each_heads_labelled_pixels() {
        let images = 7;
        let rows = images * BIAS_POSITIONS;
        let mut bias = vec![0u8; images * HEADS * BIAS_POSITIONS];
        let mut logits = Tensor::zeros([images, 14, 14, HEADS * BINS]);
        let (mut want_correct, mut want_total) = (0, 0);
        for r in 0..rows {
            let (n, position) = (r / BIAS_POSITIONS, r % BIAS_POSITIONS);
            for h in 0..HEADS {
                let ignored = (r + 2 * h) % 5 == 0;
                let label = ((r + h) % BINS) as u8;
                bias[(n * HEADS + h) * BIAS_POSITIONS + position] =
                    if ignored { IGNORE } else { label };
                let right = (3 * r + h) % 4 != 0;
                let predicted = if right {
                    label
                } else {
                    (label + 1) % BINS as u8
                };
                logits.data[r * HEADS * BINS + h * BINS + usize::from(predicted)] = 1.0;
                if !ignored {
                    want_total += 1;
                    want_correct += usize::from(right);
                }
            }
        }
        assert_eq!(heads_accuracy(&logits, &bias), (want_correct, want_total));
    }
}
