//! The authors' PyTorch checkpoints, in both of torch.save's formats, held to what PyTorch
//! computed from them (`tools/make_pth_fixtures.py`, run by hand with PyTorch 2.15, output in
//! `tests/fixtures/pth/`): the imported network gives PyTorch's evaluation-mode logits, the
//! imported momentum is PyTorch's, the next rate and step count are the optimizer's; and the
//! authors' `test.sh` and `train.sh` lines run on them verbatim (`lntl` for `python main.py`),
//! the test printing the authors' evaluation line with PyTorch's loss and accuracy.

use lntl::colored::dataset::{ColoredMnist, ColoredSplit};
use lntl::colored::original_npy::write_original;
use lntl::data::mnist::CLASSES;
use lntl::methods::batch::{Batch, ImageMode};
use lntl::models::pytorch_layout::conv_weight_to_oihw;
use lntl::train::checkpoint::{Restore, load_checkpoint, restore};
use lntl::train::model::Model;
use safetensors::SafeTensors;

#[path = "common/fixture_tensors.rs"]
mod fixture_tensors;
use fixture_tensors::floats;
use std::path::{Path, PathBuf};
use std::process::Command;

const FORMATS: [&str; 2] = ["legacy.pth", "zip.pth"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pth")
        .join(name)
}

/// What PyTorch computed from the checkpoint.
struct Expected {
    images: Vec<u8>,
    labels: Vec<u8>,
    logits: Vec<f32>,
    conv1_momentum: Vec<f32>,
    fc_momentum: Vec<f32>,
    lr: f64,
}

fn expected() -> Expected {
    let bytes = std::fs::read(fixture("expected.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let raw = |name: &str| file.tensor(name).unwrap().data().to_vec();
    Expected {
        images: raw("images"),
        labels: raw("labels")
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()) as u8)
            .collect(),
        logits: floats(&file, "logits"),
        conv1_momentum: floats(&file, "conv1_momentum"),
        fc_momentum: floats(&file, "fc_momentum"),
        lr: f64::from_le_bytes(raw("lr").try_into().unwrap()),
    }
}

fn test_split(e: &Expected) -> ColoredSplit {
    ColoredSplit {
        images: e.images.clone(),
        labels: e.labels.clone(),
        color_classes: None,
    }
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn both_formats_import_to_pytorchs_numbers() {
    let e = expected();
    let split = test_split(&e);
    let indices: Vec<usize> = (0..split.len()).collect();
    let batch = Batch::from_split(&split, &indices, ImageMode::Color);
    for name in FORMATS {
        let path = fixture(name);
        let checkpoint = load_checkpoint(&path).unwrap();
        assert_eq!(checkpoint.epochs_done, 3, "{name}: step 2 finished");
        assert_eq!(checkpoint.last_lr(), e.lr as f32, "{name}");
        assert!(checkpoint.config.is_none());
        assert!(checkpoint.run_config().is_err(), "{name}: no run to resume");

        let mut evaluated = Model::new(0);
        restore(
            &mut load_checkpoint(&path).unwrap(),
            &mut evaluated,
            Restore::Weights,
        )
        .unwrap();
        evaluated.net.forward_features(&batch.x, false);
        let logits = evaluated.net.forward_classifier().data.clone();
        let diff = max_difference(&logits, &e.logits);
        assert!(
            diff < 1e-4,
            "{name}: logits differ from PyTorch's by {diff}"
        );

        let mut warm = Model::new(0);
        restore(
            &mut load_checkpoint(&path).unwrap(),
            &mut warm,
            Restore::Features,
        )
        .unwrap();
        let conv1 = &warm.net.stem.conv;
        let conv1_momentum = conv_weight_to_oihw(&conv1.weight.momentum, &conv1.spec);
        assert_eq!(conv1_momentum, e.conv1_momentum, "{name}: conv1 momentum");
        assert_eq!(
            warm.net.fc.weight.momentum, e.fc_momentum,
            "{name}: fc momentum"
        );
        assert!(
            restore(
                &mut load_checkpoint(&path).unwrap(),
                &mut Model::new(0),
                Restore::Everything
            )
            .is_err(),
            "{name}: a resume needs a run of ours"
        );
    }
}

/// PyTorch's mean cross-entropy and correct count from its own logits.
fn pytorch_loss_and_correct(e: &Expected) -> (f64, usize) {
    let mut loss = 0.0;
    let mut correct = 0;
    for (row, &label) in e.logits.chunks_exact(CLASSES).zip(&e.labels) {
        let max = row.iter().copied().fold(f32::MIN, f32::max);
        let log_sum: f64 = row
            .iter()
            .map(|&z| f64::from(z - max).exp())
            .sum::<f64>()
            .ln();
        loss += log_sum - f64::from(row[usize::from(label)] - max);
        let predicted = (0..CLASSES)
            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)))
            .unwrap();
        correct += usize::from(predicted == usize::from(label));
    }
    (loss / e.labels.len() as f64, correct)
}

fn run(dir: &Path, line: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_lntl"))
        .args(line.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{line}: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned() + &stderr
}

#[test]
fn the_authors_scripts_run_on_their_checkpoints() {
    let e = expected();
    let work = tempfile::tempdir().unwrap();
    // The authors' data layout: ./dataset/mnist_10color_jitter_var_0.020.npy, here with the 16
    // fixture images as both splits.
    let data = ColoredMnist {
        variance: 0.02,
        seed: None,
        jitter: None,
        train: test_split(&e),
        test: test_split(&e),
        test_gray: vec![0; e.labels.len() * 784],
    };
    write_original(&data, &work.path().join("dataset")).unwrap();
    let (loss, correct) = pytorch_loss_and_correct(&e);
    let n = e.labels.len();
    for name in FORMATS {
        let checkpoint = fixture(name).display().to_string();
        // test.sh, verbatim but for the checkpoint's path.
        let out = run(
            work.path(),
            &format!(
                "-e unlearn_0.02 --color_var 0.020 --lr 0.001 --checkpoint {checkpoint} --cuda --data_split test"
            ),
        );
        assert!(
            work.path()
                .join("checkpoint/unlearn_0.02/test/evaluation.json")
                .is_file(),
            "{name}: the evaluation goes to the experiment's directory"
        );
        let line = out
            .lines()
            .find(|l| l.starts_with("EVALUATION LOSS  "))
            .unwrap_or_else(|| panic!("{name}: no evaluation line in {out}"));
        assert_eq!(
            line,
            format!(
                "EVALUATION LOSS  {loss:.4}, ACCURACY : {:.4} ({correct}/{n})",
                correct as f64 / n as f64
            ),
            "{name}"
        );

        // train.sh warm-starts from it: f and g, their momentum, and the saved rate for the
        // first epoch (one epoch here instead of the default's hundred).
        let run_name = format!("unlearn_{}", name.replace('.', "_"));
        let out = run(
            work.path(),
            &format!(
                "-e {run_name} --color_var 0.020 --lr 0.001 --use_pretrain --checkpoint {checkpoint} --cuda --is_train --data_split train --max_step 1"
            ),
        );
        assert!(out.contains("warm start from"), "{name}: {out}");
        let config: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                work.path()
                    .join("checkpoint")
                    .join(&run_name)
                    .join("config.json"),
            )
            .unwrap(),
        )
        .unwrap();
        assert_eq!(
            config["first_epoch_features_lr"]
                .as_f64()
                .map(|lr| lr as f32),
            Some(e.lr as f32),
            "{name}"
        );
    }
}

#[test]
fn damaged_pytorch_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for name in FORMATS {
        let bytes = std::fs::read(fixture(name)).unwrap();
        for cut in [20, bytes.len() / 2, bytes.len() - 3] {
            let path = dir.path().join(format!("cut_{cut}_{name}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let message = format!("{:#}", load_checkpoint(&path).unwrap_err());
            assert!(message.contains(&format!("cut_{cut}_{name}")), "{message}");
        }
    }
}
