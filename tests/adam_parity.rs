//! Adam against `torch.optim.Adam` (`tools/make_adam_fixture.py`, float64, run by hand with
//! PyTorch 2.15): four steps with weight decay, one of them without a gradient for the second
//! parameter, which must leave it and its moments untouched.

use lntl::engine::adam::{Adam, AdamConfig};
use lntl::engine::param::Param;
use safetensors::SafeTensors;

#[path = "common/fixture_tensors.rs"]
mod fixture_tensors;
use fixture_tensors::floats;

#[test]
fn four_steps_match_pytorch() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/adam.safetensors"
    ))
    .unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut a = Param::new("a", vec![5], floats(&file, "a_initial"));
    let mut b = Param::new("b", vec![3, 4], floats(&file, "b_initial"));
    let mut adam = Adam::new(AdamConfig {
        weight_decay: 0.01,
        ..AdamConfig::pytorch(0.01)
    });
    for step in 0..4 {
        a.zero_grad();
        b.zero_grad();
        a.accumulate_grad(&floats(&file, &format!("a_grad_{step}")));
        if step != 2 {
            b.accumulate_grad(&floats(&file, &format!("b_grad_{step}")));
        }
        let b_before = b.value.clone();
        adam.step([&mut a, &mut b]);
        for (param, name) in [(&a, "a"), (&b, "b")] {
            let expected = floats(&file, &format!("{name}_after_{step}"));
            for (got, want) in param.value.iter().zip(&expected) {
                // One step moves a parameter by about lr = 0.01; f32 rounding is ~1e-7.
                assert!(
                    (got - want).abs() < 2e-6,
                    "{name} after step {}: {got} against PyTorch's {want}",
                    step + 1
                );
            }
        }
        if step == 2 {
            assert_eq!(b.value, b_before, "no gradient, no step");
        }
    }
    assert_eq!(adam.state[0].step, 4);
    assert_eq!(adam.state[1].step, 3, "the skipped step is not counted");
}
