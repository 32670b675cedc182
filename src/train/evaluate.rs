//! Test-set evaluation: accuracy, per-class accuracy, the confusion matrix, and accuracy on
//! bias-aligned digits (whose random test color happens to be their class color) versus
//! bias-conflicting ones (all others).

use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::data::mnist::CLASSES;
use crate::engine::cross_entropy::cross_entropy;
use crate::engine::softmax::RowLayout;
use crate::methods::baseline::predicted_class;
use crate::methods::batch::{Batch, ImageMode};
use crate::models::convnet::ConvNet;
use crate::train::progress::Progress;
use serde::Serialize;
use std::time::Instant;

/// Images per evaluation batch: the training batch size, so that the reused activation buffers
/// do not grow beyond what training needs.
const EVAL_BATCH: usize = 128;

/// What the evaluation found.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Images evaluated.
    pub images: usize,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Mean cross-entropy of the digit logits (the loss the authors' evaluation prints).
    pub loss: f64,
    /// Accuracy per true class.
    pub per_class_accuracy: Vec<f64>,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<u32>>,
    /// Accuracy on digits colored with their own class's color (when known). Written as
    /// `aligned_accuracy`, the name `metrics.jsonl` and `result.json` give it.
    #[serde(rename = "aligned_accuracy")]
    pub bias_aligned_accuracy: Option<f64>,
    /// Accuracy on digits colored with another class's color (when known), written as
    /// `conflicting_accuracy`.
    #[serde(rename = "conflicting_accuracy")]
    pub bias_conflicting_accuracy: Option<f64>,
    /// Wall time of the predictions (batch assembly and forward passes), seconds.
    pub inference_seconds: f64,
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The class predicted for every image of `split` (network in evaluation mode), and the mean
/// cross-entropy of the logits.
pub fn predict(
    net: &mut ConvNet,
    split: &ColoredSplit,
    mode: ImageMode,
    show_progress: bool,
) -> (Vec<usize>, f64) {
    let indices: Vec<usize> = (0..split.len()).collect();
    let mut progress =
        show_progress.then(|| Progress::new("evaluate", indices.len().div_ceil(EVAL_BATCH) as u64));
    let mut predictions = Vec::with_capacity(split.len());
    let mut loss_sum = 0.0;
    for chunk in indices.chunks(EVAL_BATCH) {
        let batch = Batch::from_split(split, chunk, mode);
        net.forward_features(&batch.x, false);
        let logits = net.forward_classifier();
        predictions.extend(logits.data.chunks_exact(CLASSES).map(predicted_class));
        let batch_loss = cross_entropy(
            &logits.data,
            RowLayout::packed(CLASSES),
            &batch.labels,
            None,
            1.0,
            None,
        );
        loss_sum += f64::from(batch_loss) * chunk.len() as f64;
        if let Some(p) = progress.as_mut() {
            p.step(String::new);
        }
    }
    if let Some(p) = progress {
        p.finish();
    }
    let mean_loss = if split.is_empty() {
        0.0
    } else {
        loss_sum / split.len() as f64
    };
    (predictions, mean_loss)
}

/// Accuracy of `net` on `data`'s plain test digits (the authors' `test_gray`), the measure the
/// paper's Gray row matches.
pub fn plain_digits_accuracy(net: &mut ConvNet, data: &ColoredMnist, mode: ImageMode) -> f64 {
    evaluate(net, &data.plain_test(), mode, false).accuracy
}

/// Evaluates `net` on `split`.
pub fn evaluate(
    net: &mut ConvNet,
    split: &ColoredSplit,
    mode: ImageMode,
    show_progress: bool,
) -> Evaluation {
    let started = Instant::now();
    let (predictions, loss) = predict(net, split, mode, show_progress);
    let inference_seconds = started.elapsed().as_secs_f64();
    let mut confusion = vec![vec![0u32; CLASSES]; CLASSES];
    for (&label, &p) in split.labels.iter().zip(&predictions) {
        confusion[usize::from(label)][p] += 1;
    }
    let correct: usize = (0..CLASSES).map(|k| confusion[k][k] as usize).sum();
    let per_class_accuracy = (0..CLASSES)
        .map(|k| {
            ratio(
                confusion[k][k] as usize,
                confusion[k].iter().sum::<u32>() as usize,
            )
        })
        .collect();
    let (aligned, conflicting) = match &split.color_classes {
        Some(colors) => {
            let mut counts = [[0usize; 2]; 2];
            for ((&label, &color), &p) in split.labels.iter().zip(colors).zip(&predictions) {
                let group = usize::from(label != color);
                counts[group][0] += usize::from(p == usize::from(label));
                counts[group][1] += 1;
            }
            (
                Some(ratio(counts[0][0], counts[0][1])),
                Some(ratio(counts[1][0], counts[1][1])),
            )
        }
        None => (None, None),
    };
    Evaluation {
        images: split.len(),
        accuracy: ratio(correct, split.len()),
        loss,
        per_class_accuracy,
        confusion,
        bias_aligned_accuracy: aligned,
        bias_conflicting_accuracy: conflicting,
        inference_seconds,
    }
}
