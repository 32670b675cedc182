//! LfF's MLP against PyTorch (`tools/make_mlp_fixture.py`, float64, run by hand with PyTorch
//! 2.15): LfF's input scaling, the logits, and every parameter's gradient of the mean
//! cross-entropy.

use lntl::engine::tensor::Tensor;
use lntl::methods::baseline::classification_loss;
use lntl::models::mlp::{Mlp, mlp_input};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use safetensors::SafeTensors;

#[path = "common/fixture_tensors.rs"]
mod fixture_tensors;
use fixture_tensors::floats;

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * scale,
            "{what}[{i}]: {g} against PyTorch's {w} (largest {scale})"
        );
    }
}

#[test]
fn forward_and_gradients_match_pytorch() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/mlp.safetensors"
    ))
    .unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut net = Mlp::new(&mut ChaCha8Rng::seed_from_u64(0));
    for (t, p) in net.params_mut().into_iter().enumerate() {
        for (k, v) in p.value.iter_mut().enumerate() {
            *v = (0.05 * (0.37 * k as f64 + t as f64).sin()) as f32;
        }
    }
    let images = file.tensor("images").unwrap().data().to_vec();
    let labels = file.tensor("labels").unwrap().data().to_vec();
    let logits = net.forward(&mlp_input(&images)).clone();
    assert_close(&logits.data, &floats(&file, "logits"), "logits");
    let mut dlogits = Tensor::zeros(logits.dims);
    classification_loss(&logits, &labels, &mut dlogits);
    net.backward(&dlogits);
    for p in net.params_mut() {
        assert_close(
            &p.grad,
            &floats(&file, &format!("{}.grad", p.name)),
            &p.name,
        );
    }
}
