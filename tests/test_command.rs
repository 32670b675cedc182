//! `lntl test` end to end: a small Gray run evaluated on the colored test set and on the plain
//! MNIST test digits (`--plain-digits`), each written beside the checkpoint with the command
//! and commit that produced it, never over the run's own evaluation, and equal to it; and
//! `lntl export` of the same run.

use std::path::Path;
use std::process::Command;

const LNTL: &str = env!("CARGO_BIN_EXE_lntl");

fn lntl(args: &[&str]) {
    let out = Command::new(LNTL).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn a_checkpoint_is_tested_on_the_colored_and_on_the_plain_digits() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("gray");
    let run_dir = run.to_str().unwrap();
    lntl(&[
        "--threads",
        "2",
        "train",
        "--method",
        "gray",
        "--epochs",
        "1",
        "--train-limit",
        "2000",
        "--leakage-images",
        "0",
        "--run-dir",
        run_dir,
    ]);
    let own = std::fs::read(run.join("evaluation.json")).unwrap();

    lntl(&["test", "--checkpoint", run_dir, "--leakage-images", "0"]);
    lntl(&["test", "--checkpoint", run_dir, "--plain-digits"]);

    let colored = read_json(&run.join("test/evaluation.json"));
    let plain = read_json(&run.join("test_plain/evaluation.json"));
    for record in [&colored, &plain] {
        assert!(record["command"].as_str().unwrap().contains(" test "));
        assert!(!record["commit"].as_str().unwrap().is_empty());
        let confusion = record["evaluation"]["confusion"].as_array().unwrap();
        let images: u64 = confusion
            .iter()
            .flat_map(|row| row.as_array().unwrap())
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(images, 10_000, "the whole test set");
        assert!(
            record["evaluation"]["accuracy"]
                .as_f64()
                .unwrap()
                .is_finite()
        );
    }
    // The plain digits carry no color: no aligned/conflicting split, no leakage probe.
    assert!(colored["evaluation"]["aligned_accuracy"].is_number());
    assert!(plain["evaluation"]["aligned_accuracy"].is_null());
    assert!(plain["color_leakage"].is_null());
    assert!(run.join("test_plain/confusion.png").is_file());
    // Other images, other predictions; the digits' labels are the same.
    assert_ne!(
        colored["evaluation"]["confusion"],
        plain["evaluation"]["confusion"]
    );
    let label_counts = |record: &serde_json::Value| -> Vec<u64> {
        record["evaluation"]["confusion"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                row.as_array()
                    .unwrap()
                    .iter()
                    .map(|n| n.as_u64().unwrap())
                    .sum()
            })
            .collect()
    };
    assert_eq!(label_counts(&colored), label_counts(&plain));
    assert_eq!(
        std::fs::read(run.join("evaluation.json")).unwrap(),
        own,
        "the run's own evaluation is untouched"
    );
    // `lntl export` writes the networks for PyTorch: the authors' names and layouts.
    let export = root.path().join("export.safetensors");
    lntl(&[
        "export",
        "--checkpoint",
        run_dir,
        "--out",
        export.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&export).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 42);
    assert_eq!(
        file.tensor("net.conv1.weight").unwrap().shape(),
        [32, 3, 5, 5]
    );
    assert_eq!(file.tensor("net.fc.weight").unwrap().shape(), [10, 64]);
    assert!(file.tensor("pred_net_b.pred_bn1.running_var").is_ok());

    // The same weights on the same test set: `lntl test` measures what the run measured.
    let own: serde_json::Value = serde_json::from_slice(&own).unwrap();
    for key in [
        "accuracy",
        "loss",
        "per_class_accuracy",
        "confusion",
        "aligned_accuracy",
        "conflicting_accuracy",
    ] {
        assert_eq!(colored["evaluation"][key], own["evaluation"][key], "{key}");
    }
    assert_eq!(
        colored["plain_digits_accuracy"],
        own["plain_digits_accuracy"]
    );
    assert_eq!(
        plain["evaluation"]["accuracy"], own["plain_digits_accuracy"],
        "--plain-digits measures what the run recorded as its plain-digits accuracy"
    );
}
