//! LfF's evaluation (docs/LFF.md §2): accuracy in each of the 10 × 10 (digit, color) groups of
//! the test split. LfF's "unbiased accuracy" is the mean of the 100 group accuracies, "aligned"
//! the mean of the diagonal (digit c in color c), "conflicting" the mean of the 90 others.

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::CLASSES;
use crate::methods::baseline::predicted_class;
use crate::models::mlp::{MLP_INPUTS, Mlp, mlp_input};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// Images per evaluation batch (LfF's `valid_loader` uses 256).
const EVAL_BATCH: usize = 256;

/// Correct and total counts per (digit, color) group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupCounts {
    /// `correct[digit][color]`.
    pub correct: [[u32; CLASSES]; CLASSES],
    /// `total[digit][color]`.
    pub total: [[u32; CLASSES]; CLASSES],
}

/// The accuracies LfF logs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GroupAccuracy {
    /// Mean accuracy over the 100 groups.
    pub unbiased_accuracy: f64,
    /// Mean accuracy over the 10 bias-aligned groups (digit c in color c).
    pub aligned_accuracy: f64,
    /// Mean accuracy over the 90 bias-conflicting groups.
    pub conflicting_accuracy: f64,
}

impl GroupCounts {
    /// Counts one prediction.
    pub fn add(&mut self, digit: u8, color: u8, correct: bool) {
        let (d, c) = (usize::from(digit), usize::from(color));
        self.total[d][c] += 1;
        self.correct[d][c] += u32::from(correct);
    }

    /// The group means. An empty group would make LfF's mean NaN; it counts as accuracy 0
    /// here, and the unbiased test split has about 100 images in every group.
    pub fn accuracy(&self) -> GroupAccuracy {
        let mut all = 0.0;
        let mut aligned = 0.0;
        for d in 0..CLASSES {
            for c in 0..CLASSES {
                let total = self.total[d][c];
                let accuracy = if total == 0 {
                    0.0
                } else {
                    f64::from(self.correct[d][c]) / f64::from(total)
                };
                all += accuracy;
                if d == c {
                    aligned += accuracy;
                }
            }
        }
        let groups = (CLASSES * CLASSES) as f64;
        GroupAccuracy {
            unbiased_accuracy: all / groups,
            aligned_accuracy: aligned / CLASSES as f64,
            conflicting_accuracy: (all - aligned) / (groups - CLASSES as f64),
        }
    }
}

/// The group counts of `net`'s predictions on `split`, which must record each image's color.
pub fn group_counts(net: &mut Mlp, split: &ColoredSplit) -> Result<GroupCounts> {
    let colors = split
        .color_classes
        .as_ref()
        .context("the evaluation split does not record each image's color")?;
    let mut counts = GroupCounts::default();
    let images = split.images.chunks(EVAL_BATCH * MLP_INPUTS);
    let labels = split.labels.chunks(EVAL_BATCH);
    for ((images, labels), colors) in images.zip(labels).zip(colors.chunks(EVAL_BATCH)) {
        let logits = net.forward(&mlp_input(images));
        for ((row, &label), &color) in logits.data.chunks_exact(CLASSES).zip(labels).zip(colors) {
            counts.add(label, color, predicted_class(row) == usize::from(label));
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Group means, not image means: one aligned group at 1/2 and one conflicting group at 1,
    /// the other 98 empty (0).
    #[test]
    fn accuracies_are_means_over_groups_by_hand() {
        let mut counts = GroupCounts::default();
        counts.add(3, 3, true);
        counts.add(3, 3, false);
        counts.add(1, 7, true);
        counts.add(1, 7, true);
        counts.add(1, 7, true);
        let a = counts.accuracy();
        assert_eq!(a.unbiased_accuracy, 1.5 / 100.0);
        assert_eq!(a.aligned_accuracy, 0.5 / 10.0);
        assert_eq!(a.conflicting_accuracy, 1.0 / 90.0);
    }
}
