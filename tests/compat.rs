//! The original implementations' documented command lines, run verbatim against the binary on a
//! small file in the authors' `.npy` format: the TensorFlow port's train-then-test flow for both
//! methods, with its `--ckpt_dir` and `--log_dir`.

use lntl::colored::jitter::JitterRule;
use lntl::colored::locate::load_or_generate;
use lntl::colored::original_npy::write_original;
use lntl::data::cache::cache_dir;
use std::path::Path;
use std::process::{Command, Output};

const LNTL: &str = env!("CARGO_BIN_EXE_lntl");

fn run_in(dir: &Path, line: &str) -> Output {
    let out = Command::new(LNTL)
        .args(line.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn tensorflow_port_train_then_test_works_verbatim() {
    let work = tempfile::tempdir().unwrap();
    let mut data =
        load_or_generate(&cache_dir(None), 0.020, 0, JitterRule::Reflect, &|_| {}).unwrap();
    data.train = data.train.first(1_000);
    let dataset = work.path().join("dataset/colored-mnist");
    write_original(&data, &dataset).unwrap();
    let file = "./dataset/colored-mnist/mnist_10color_jitter_var_0.020.npy";

    // The README's baseline training, then its test command: the test restores the baseline.
    run_in(
        work.path(),
        &format!(
            "--phase=train --data_dir={file} --max_epoch=1 --batch_size=128 --lr=0.001 --train_baseline"
        ),
    );
    assert!(
        work.path()
            .join("checkpoint/baseline_mnist_10color_jitter_var_0.020/checkpoint.safetensors")
            .is_file()
    );
    assert!(
        work.path()
            .join("logs/baseline_mnist_10color_jitter_var_0.020")
            .is_dir()
    );
    let run_dir = work
        .path()
        .join("checkpoint/baseline_mnist_10color_jitter_var_0.020");
    let training_evaluation = std::fs::read(run_dir.join("evaluation.json")).unwrap();
    let test = run_in(
        work.path(),
        &format!("--phase=test --data_dir={file} --batch_size=128"),
    );
    let text = String::from_utf8_lossy(&test.stdout);
    assert!(text.contains("test accuracy"), "{text}");
    assert!(text.contains("checkpoint/baseline_"), "{text}");
    // The test writes its own files and leaves the training run's evaluation as it was.
    assert!(run_dir.join("test/evaluation.json").is_file());
    assert_eq!(
        std::fs::read(run_dir.join("evaluation.json")).unwrap(),
        training_evaluation
    );

    // LNTL training; the test then restores the newest checkpoint, LNTL's.
    run_in(
        work.path(),
        &format!(
            "--phase=train --data_dir={file} --max_epoch=1 --batch_size=128 --lr=0.001 --loss_lambda=0.01"
        ),
    );
    let test = run_in(
        work.path(),
        &format!("--phase=test --data_dir={file} --batch_size=128"),
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("checkpoint/lntl_"));

    // Running the same training again finds it finished, as the port resumes from its directory.
    let again = run_in(
        work.path(),
        &format!(
            "--phase=train --data_dir={file} --max_epoch=1 --batch_size=128 --lr=0.001 --train_baseline"
        ),
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("has finished already"));

    // --ckpt_dir and --log_dir are honored.
    run_in(
        work.path(),
        &format!(
            "--phase=train --data_dir={file} --max_epoch=1 --train_baseline --ckpt_dir=ck --log_dir=lg"
        ),
    );
    assert!(
        work.path()
            .join("ck/baseline_mnist_10color_jitter_var_0.020/result.json")
            .is_file()
    );
    assert!(
        work.path()
            .join("lg/baseline_mnist_10color_jitter_var_0.020")
            .is_dir()
    );
    let test = run_in(
        work.path(),
        &format!("--phase=test --data_dir={file} --ckpt_dir=ck"),
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("ck/baseline_"));
}
