//! Checkpoints restore the model that was saved, compared with that model itself (not with a
//! second load of the same file): for a resume every parameter, momentum buffer and running
//! statistic of f, g and the heads; for evaluation the weights and running statistics without
//! momentum; for a warm start f and g with their momentum and statistics, the heads left fresh.

use lntl::colored::bias_labels::BIAS_POSITIONS;
use lntl::colored::jitter::JitterRule;
use lntl::engine::tensor::Tensor;
use lntl::methods::LearningRates;
use lntl::methods::batch::Batch;
use lntl::methods::lntl::lntl_step;
use lntl::train::checkpoint::{Restore, load_checkpoint, restore, save_checkpoint};
use lntl::train::config::{DatasetChoice, Method, TrainConfig};
use lntl::train::model::Model;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Every parameter (value and momentum) and running statistic of a model, by name.
#[derive(Debug, PartialEq)]
struct State {
    net: Vec<(String, Vec<f32>, Vec<f32>)>,
    net_stats: Vec<Vec<f32>>,
    heads: Vec<(String, Vec<f32>, Vec<f32>)>,
    heads_stats: Vec<Vec<f32>>,
}

fn state(model: &mut Model) -> State {
    let params = |ps: Vec<&mut lntl::engine::param::Param>| {
        ps.into_iter()
            .map(|p| (p.name.clone(), p.value.clone(), p.momentum.clone()))
            .collect()
    };
    let stats =
        |ss: Vec<(&'static str, &mut Vec<f32>)>| ss.into_iter().map(|(_, v)| v.clone()).collect();
    State {
        net: params(model.net.params_mut()),
        net_stats: stats(model.net.running_stats_mut()),
        heads: params(model.heads.params_mut()),
        heads_stats: stats(model.heads.running_stats_mut()),
    }
}

/// A model after two LNTL iterations on a random batch: every parameter, momentum buffer and
/// running statistic differs from a fresh model's.
fn trained_model() -> Model {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let n = 8;
    let batch = Batch {
        x: Tensor::from_vec(
            [n, 28, 28, 3],
            (0..n * 28 * 28 * 3)
                .map(|_| rng.random_range(-2.0..2.0))
                .collect(),
        ),
        labels: (0..n).map(|i| i as u8).collect(),
        bias: (0..n * 3 * BIAS_POSITIONS)
            .map(|_| rng.random_range(0..8))
            .collect(),
    };
    let mut model = Model::new(1);
    let config = config();
    for _ in 0..2 {
        lntl_step(
            &mut model.net,
            &mut model.heads,
            &batch,
            LearningRates::same(0.01),
            &config.sgd,
            &config.lntl,
        );
    }
    model
}

fn config() -> TrainConfig {
    TrainConfig::paper(
        Method::Lntl,
        DatasetChoice::Generated {
            variance: 0.020,
            seed: 0,
            jitter: JitterRule::Reflect,
        },
    )
}

#[test]
fn each_restore_brings_back_what_it_promises() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    let mut trained = trained_model();
    save_checkpoint(&path, &mut trained, 3, &config()).unwrap();
    let saved = state(&mut trained);
    // A fresh model of another seed: nothing in it matches the trained one by chance.
    let fresh = || Model::new(2);
    let fresh_state = state(&mut fresh());
    for (a, b) in [
        (&saved.net_stats, &fresh_state.net_stats),
        (&saved.heads_stats, &fresh_state.heads_stats),
    ] {
        assert!(a.iter().zip(b).all(|(a, b)| a != b));
    }
    assert!(
        saved
            .net
            .iter()
            .chain(&saved.heads)
            .all(|(_, v, m)| { !m.is_empty() && m.iter().any(|&x| x != 0.0) && !v.is_empty() })
    );

    let restored = |what: Restore| {
        let mut model = fresh();
        let mut checkpoint = load_checkpoint(&path).unwrap();
        assert_eq!(checkpoint.epochs_done, 3);
        restore(&mut checkpoint, &mut model, what).unwrap();
        state(&mut model)
    };

    assert_eq!(
        restored(Restore::Everything),
        saved,
        "a resume restores everything"
    );

    let without_momentum = |params: &[(String, Vec<f32>, Vec<f32>)]| -> Vec<_> {
        params
            .iter()
            .map(|(name, value, _)| (name.clone(), value.clone(), Vec::new()))
            .collect()
    };
    let evaluation = restored(Restore::Weights);
    assert_eq!(evaluation.net, without_momentum(&saved.net));
    assert_eq!(
        evaluation.net_stats, saved.net_stats,
        "bn0's running statistics"
    );
    assert_eq!(evaluation.heads, without_momentum(&saved.heads));
    assert_eq!(evaluation.heads_stats, saved.heads_stats);

    let warm = restored(Restore::Features);
    assert_eq!(warm.net, saved.net, "f and g with their momentum");
    assert_eq!(warm.net_stats, saved.net_stats, "bn0's running statistics");
    assert_eq!(warm.heads, fresh_state.heads, "the heads start fresh");
    assert_eq!(warm.heads_stats, fresh_state.heads_stats);
}
