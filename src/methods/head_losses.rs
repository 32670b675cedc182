//! Losses over the three heads' per-pixel logits (N×14×14×24, head h at channels 8h..8h+8).

use crate::colored::bias_labels::{BIAS_POSITIONS, IGNORE};
use crate::engine::cross_entropy::cross_entropy;
use crate::engine::neg_entropy::neg_entropy;
use crate::engine::tensor::Tensor;
use crate::engine::uniform_confusion::uniform_confusion;
use crate::models::bias_heads::{BINS, HEADS};

/// Head `h`'s labels in row order (n, position), from bias labels laid out `[n][h][position]`.
fn head_labels(bias: &[u8], h: usize) -> Vec<u8> {
    bias.chunks_exact(HEADS * BIAS_POSITIONS)
        .flat_map(|item| item[h * BIAS_POSITIONS..][..BIAS_POSITIONS].to_vec())
        .collect()
}

/// `Σ_h CE_h`, each head's cross-entropy averaged over its labelled pixels; adds the gradient
/// to `grad`.
pub fn heads_cross_entropy(logits: &Tensor, bias: &[u8], grad: &mut Tensor) -> f32 {
    (0..HEADS)
        .map(|h| {
            let labels = head_labels(bias, h);
            cross_entropy(
                &logits.data,
                HEADS * BINS,
                h * BINS,
                BINS,
                &labels,
                Some(IGNORE),
                1.0,
                Some(&mut grad.data),
            )
        })
        .sum()
}

/// Fraction of labelled pixels whose bin each head predicts correctly, pooled over the heads.
pub fn heads_accuracy(logits: &Tensor, bias: &[u8]) -> (usize, usize) {
    let (mut correct, mut total) = (0, 0);
    for h in 0..HEADS {
        for (r, &label) in head_labels(bias, h).iter().enumerate() {
            if label == IGNORE {
                continue;
            }
            let z = &logits.data[r * HEADS * BINS + h * BINS..][..BINS];
            let best = (0..BINS)
                .max_by(|&a, &b| z[a].total_cmp(&z[b]))
                .expect("bins");
            correct += usize::from(best == usize::from(label));
            total += 1;
        }
    }
    (correct, total)
}

/// A per-pixel loss over one head's slice of the logits (see `engine::neg_entropy`).
type PixelLoss = fn(&[f32], usize, usize, usize, usize, f32, Option<&mut [f32]>) -> f32;

/// `scale ×` the mean over heads of each head's mean `loss` over its pixels; adds the gradient.
fn heads_mean(logits: &Tensor, scale: f32, grad: &mut Tensor, loss: PixelLoss) -> f32 {
    let rows = logits.rows();
    let total: f32 = (0..HEADS)
        .map(|h| {
            loss(
                &logits.data,
                HEADS * BINS,
                h * BINS,
                BINS,
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
