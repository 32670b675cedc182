//! Tests on the real MNIST, fetched (or found in the cache) like `lntl data fetch` does.
//! The cache is `$LNTL_HOME` or the platform cache dir; `.ci/run` fetches MNIST first.

use lntl::colored::generate::generate;
use lntl::colored::jitter::JitterRule;
use lntl::colored::palette::PALETTE;
use lntl::colored::stats::class_color_stats;
use lntl::data::mnist::{DigitSet, TEST_LEN, TRAIN_LEN};

#[path = "common/real_mnist.rs"]
mod real_mnist;
use real_mnist::real_mnist;

#[test]
fn colored_mnist_at_0_020_from_real_mnist() {
    let mnist = real_mnist();
    let data = generate(&mnist, 0.020, 0, JitterRule::Reflect).unwrap();
    assert_eq!(data.train.images.len(), TRAIN_LEN * 28 * 28 * 3);
    assert_eq!(data.test.images.len(), TEST_LEN * 28 * 28 * 3);
    assert_eq!(data.test_gray.len(), TEST_LEN * 28 * 28);
    assert_eq!(data.train.labels.iter().filter(|&&l| l == 0).count(), 5923);
    assert_eq!(data.test.labels.iter().filter(|&&l| l == 0).count(), 980);

    let sigma = 0.020f64.sqrt();
    for s in class_color_stats(&data.train) {
        for c in 0..3 {
            let (mean, std) =
                JitterRule::Reflect.moments(f64::from(PALETTE[s.class][c]) / 255.0, sigma);
            assert!(
                (s.mean[c] - mean).abs() < 0.01,
                "class {} ch {c}: mean {} vs {mean}",
                s.class,
                s.mean[c]
            );
            assert!(
                (s.std[c] / std - 1.0).abs() < 0.1,
                "class {} ch {c}: std {} vs {std}",
                s.class,
                s.std[c]
            );
        }
    }
    // Test colors carry no label information: about a tenth of test digits get their own color.
    let classes = data.test.color_classes.as_ref().unwrap();
    let own = classes
        .iter()
        .zip(&data.test.labels)
        .filter(|(c, l)| c == l)
        .count();
    assert!(
        (850..1150).contains(&own),
        "{own} of 10000 test digits in their own class color"
    );
}

#[test]
fn cached_mnist_verifies_against_pinned_digests() {
    let mnist = real_mnist();
    mnist.verify(DigitSet::Mnist, "real MNIST").unwrap();
}
