//! `train` is the loop its documentation describes, replayed here by hand from the library's
//! steps: per epoch, the training images in `epoch_order(seed, epoch)` in batches of 128, one
//! step of the method on each at the epoch's learning rates; Gray on gray images; a warm start
//! from the baseline checkpoint's f, g and momentum, with the baseline's last rate for f and g
//! in the first epoch; heads-only warm-up epochs; BlindEye's step at its confusion weight. The replay must reproduce the run's
//! checkpoint bit for bit, and the run's evaluation must be the replayed network's on the test
//! split. A trainer that reused one epoch's order, trained Gray on colored images, dropped the
//! warm start or its learning rate, or skipped the warm-up fails here.

mod common;

use lntl::colored::dataset::ColoredMnist;
use lntl::colored::store;
use lntl::data::cache::cache_dir;
use lntl::methods::LearningRates;
use lntl::methods::baseline::baseline_step;
use lntl::methods::batch::{Batch, ImageMode};
use lntl::methods::blindeye::blindeye_step;
use lntl::methods::lntl::{color_phase, lntl_step};
use lntl::train::checkpoint::{Restore, load_checkpoint, restore, save_checkpoint};
use lntl::train::config::{DatasetChoice, Method, TrainConfig};
use lntl::train::evaluate::evaluate;
use lntl::train::model::Model;
use lntl::train::run::{CHECKPOINT_FILE, epoch_order, train};
use lntl::util::tensor_file::StoredTensor;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Three batches per epoch: 128, 128 and 44 images.
const TRAIN_IMAGES: usize = 300;
const TEST_IMAGES: usize = 500;
const BATCH: usize = 128;

fn config(method: Method, dataset: &Path, epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        leakage_train_images: 0,
        ..TrainConfig::paper(method, DatasetChoice::File(dataset.to_path_buf()))
    }
}

fn run(config: &TrainConfig, dir: &Path) {
    train(
        config.clone(),
        dir,
        false,
        &cache_dir(None),
        "test",
        &|_: &str| {},
    )
    .expect("training runs");
}

/// The tensors of `model` as a checkpoint of `config` stores them.
fn tensors_of(
    model: &mut Model,
    config: &TrainConfig,
    scratch: &Path,
) -> BTreeMap<String, StoredTensor> {
    let path = scratch.join("replayed.safetensors");
    save_checkpoint(&path, model, config.epochs, config).unwrap();
    load_checkpoint(&path).unwrap().file.tensors
}

/// Asserts that the run in `dir` saved exactly the replayed `model`, and that its final
/// evaluation is the replayed network's on the test split in `mode`.
fn assert_run_is_replay(
    dir: &Path,
    model: &mut Model,
    config: &TrainConfig,
    data: &ColoredMnist,
    mode: ImageMode,
) {
    let saved = load_checkpoint(&dir.join(CHECKPOINT_FILE))
        .unwrap()
        .file
        .tensors;
    let replayed = tensors_of(model, config, dir.parent().unwrap());
    assert_eq!(
        saved.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>()
    );
    for (name, tensor) in &saved {
        assert!(
            replayed[name] == *tensor,
            "{}: {name} differs from the replayed loop",
            config.method.name()
        );
    }
    let evaluation: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("evaluation.json")).unwrap())
            .unwrap();
    let ours = evaluate(&mut model.net, &data.test, mode, false);
    assert_eq!(
        evaluation["evaluation"]["accuracy"].as_f64(),
        Some(ours.accuracy),
        "{}: the run's evaluation",
        config.method.name()
    );
}

/// The batches of `epoch`, in `mode`.
fn batches(data: &ColoredMnist, seed: u64, epoch: usize, mode: ImageMode) -> Vec<Batch> {
    epoch_order(seed, epoch, data.train.len())
        .chunks(BATCH)
        .map(|indices| Batch::from_split(&data.train, indices, mode))
        .collect()
}

/// A temporary directory holding the small dataset file, the file, and its content.
fn small_data() -> (tempfile::TempDir, PathBuf, ColoredMnist) {
    let root = tempfile::tempdir().unwrap();
    let dataset = common::small_dataset(root.path(), TRAIN_IMAGES, TEST_IMAGES);
    let data = store::load(&dataset).unwrap();
    (root, dataset, data)
}

/// Trains the one-epoch baseline that the warm starts begin from; returns its checkpoint.
fn baseline_checkpoint(root: &Path, dataset: &Path) -> PathBuf {
    let dir = root.join("baseline");
    run(&config(Method::Baseline, dataset, 1), &dir);
    dir.join(CHECKPOINT_FILE)
}

/// A fresh model of `seed` warm-started from `baseline`: its f, g and their momentum.
fn warm_started(seed: u64, baseline: &Path) -> Model {
    let mut model = Model::new(seed);
    restore(
        &mut load_checkpoint(baseline).unwrap(),
        &mut model,
        Restore::Features,
    )
    .unwrap();
    model
}

#[test]
fn gray_trains_and_tests_on_gray_images_in_a_new_order_every_epoch() {
    let (root, dataset, data) = small_data();
    let config = config(Method::Gray, &dataset, 2);
    let dir = root.path().join("gray");
    run(&config, &dir);

    let mut model = Model::new(config.seed);
    for epoch in 0..2 {
        for batch in batches(&data, config.seed, epoch, ImageMode::Gray) {
            baseline_step(&mut model.net, &batch, 0.01, &config.sgd);
        }
    }
    assert_run_is_replay(&dir, &mut model, &config, &data, ImageMode::Gray);
}

#[test]
fn lntl_warm_starts_from_the_baseline_with_its_last_rate_then_runs_its_own() {
    let (root, dataset, data) = small_data();
    let baseline = baseline_checkpoint(root.path(), &dataset);

    // The authors' warm start: the baseline's f, g and momentum, and its rate (0.01) for f and
    // g until the first epoch ends; LNTL's own 0.001 after that, and for the heads throughout.
    let config = TrainConfig {
        init_from: Some(baseline.clone()),
        first_epoch_features_lr: Some(0.01),
        ..config(Method::Lntl, &dataset, 2)
    };
    let dir = root.path().join("lntl");
    run(&config, &dir);

    let mut model = warm_started(config.seed, &baseline);
    for epoch in 0..2 {
        let rates = LearningRates {
            features: if epoch == 0 { 0.01 } else { 0.001 },
            heads: 0.001,
        };
        for batch in batches(&data, config.seed, epoch, ImageMode::Color) {
            let (net, heads) = (&mut model.net, &mut model.heads);
            lntl_step(net, heads, &batch, rates, &config.sgd, &config.lntl);
        }
    }
    assert_run_is_replay(&dir, &mut model, &config, &data, ImageMode::Color);
}

#[test]
fn heads_warmup_epochs_train_only_the_heads() {
    let (root, dataset, data) = small_data();
    let config = TrainConfig {
        heads_warmup_epochs: 1,
        ..config(Method::Lntl, &dataset, 2)
    };
    let dir = root.path().join("lntl");
    run(&config, &dir);

    let mut model = Model::new(config.seed);
    let rates = LearningRates::same(0.001);
    for batch in batches(&data, config.seed, 0, ImageMode::Color) {
        color_phase(
            &mut model.net,
            &mut model.heads,
            &batch,
            rates,
            &config.sgd,
            None,
        );
    }
    for batch in batches(&data, config.seed, 1, ImageMode::Color) {
        let (net, heads) = (&mut model.net, &mut model.heads);
        lntl_step(net, heads, &batch, rates, &config.sgd, &config.lntl);
    }
    assert_run_is_replay(&dir, &mut model, &config, &data, ImageMode::Color);
}

#[test]
fn blindeye_warm_starts_from_the_baseline_and_confuses_the_heads() {
    let (root, dataset, data) = small_data();
    let baseline = baseline_checkpoint(root.path(), &dataset);
    let config = TrainConfig {
        init_from: Some(baseline.clone()),
        ..config(Method::Blindeye, &dataset, 1)
    };
    let dir = root.path().join("blindeye");
    run(&config, &dir);

    let mut model = warm_started(config.seed, &baseline);
    for batch in batches(&data, config.seed, 0, ImageMode::Color) {
        let (net, heads) = (&mut model.net, &mut model.heads);
        let rates = LearningRates::same(0.001);
        // BlindEye's confusion weight is λ (10 by default).
        blindeye_step(net, heads, &batch, rates, &config.sgd, 10.0);
    }
    assert_run_is_replay(&dir, &mut model, &config, &data, ImageMode::Color);
}
