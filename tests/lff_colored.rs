//! LfF's Colored-MNIST built from the real MNIST: the bias-conflicting counts docs/LFF.md gives
//! for its four ratios, an unbiased test split, each image one truncated product of a noisy
//! palette color and the gray digit, the same bytes for the same seed, and LfF's on-disk layout
//! read back as written.

use lntl::data::mnist::PIXELS;
use lntl::lff_colored::generate::{LffColoredMnist, generate, generate_validation};
use lntl::lff_colored::layout::{read_lff_layout, write_lff_layout};
use lntl::lff_colored::palette::MEAN_COLORS;

#[path = "common/lntl_command.rs"]
mod lntl_command;
#[path = "common/real_mnist.rs"]
mod real_mnist;
use lntl_command::lntl_ok;
use real_mnist::real_mnist;

fn conflicting(labels: &[u8], colors: &[u8]) -> usize {
    labels.iter().zip(colors).filter(|(l, c)| l != c).count()
}

#[test]
fn conflicting_counts_and_an_unbiased_test_split() {
    let mnist = real_mnist();
    for (ratio, expected) in [(0.05, 3000), (0.02, 1199), (0.01, 598), (0.005, 300)] {
        let data = generate(&mnist, ratio, 4, 0).unwrap();
        let colors = data.train.color_classes.as_ref().unwrap();
        assert_eq!(
            conflicting(&data.train.labels, colors),
            expected,
            "r = {ratio}"
        );
        // The test split: every (digit, color) pair a tenth of its digit's count.
        let test_colors = data.test.color_classes.as_ref().unwrap();
        let mut pairs = [[0usize; 10]; 10];
        for (&l, &c) in data.test.labels.iter().zip(test_colors) {
            pairs[usize::from(l)][usize::from(c)] += 1;
        }
        for (digit, row) in pairs.iter().enumerate() {
            let n: usize = row.iter().sum();
            for &count in row {
                assert!(count.abs_diff(n / 10) <= 1, "digit {digit}: {row:?}");
            }
        }
        // numpy, running LfF's `make_attr_labels` arithmetic on MNIST's test counts by hand.
        assert_eq!(conflicting(&data.test.labels, test_colors), 9000);
    }
}

#[test]
fn each_image_is_one_noisy_palette_color_times_the_digit() {
    let mnist = real_mnist();
    let data = generate(&mnist, 0.01, 4, 7).unwrap();
    let colors = data.train.color_classes.as_ref().unwrap();
    for i in [0, 1, 2, 12_345, 59_999] {
        let gray = mnist.train.image(i);
        let image = data.train.image(i);
        let mean = MEAN_COLORS[usize::from(colors[i])];
        for c in 0..3 {
            // The channel's factor, read back from the brightest pixel, is within a few noise
            // standard deviations (0.005) of the mean color.
            let brightest = (0..PIXELS).max_by_key(|&p| gray[p]).unwrap();
            let factor = f32::from(image[brightest * 3 + c]) / f32::from(gray[brightest]);
            assert!(
                (factor - mean[c]).abs() < 0.03,
                "image {i}, channel {c}: {factor}"
            );
            for p in 0..PIXELS {
                if gray[p] == 0 {
                    assert_eq!(image[p * 3 + c], 0, "the background stays black");
                }
            }
        }
    }
    assert_eq!(
        generate(&mnist, 0.01, 4, 7).unwrap(),
        data,
        "same seed, same bytes"
    );
    assert_ne!(
        generate(&mnist, 0.01, 4, 8).unwrap().train.images,
        data.train.images
    );
    assert!(generate(&mnist, 0.0, 4, 0).is_err());
    assert!(generate(&mnist, 0.01, 6, 0).is_err());
}

#[test]
fn lffs_layout_round_trips_and_names_bad_files() {
    let mnist = real_mnist();
    let data = generate(&mnist, 0.02, 4, 1).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = write_lff_layout(&data, root.path()).unwrap();
    assert!(dir.ends_with("ColoredMNIST-Skewed0.02-Severity4"));
    let back = read_lff_layout(&dir).unwrap();
    assert_eq!(back.seed, None, "LfF's files do not record a seed");
    assert_eq!(back, LffColoredMnist { seed: None, ..data });
    std::fs::write(dir.join("valid/attrs.npy"), "not numpy").unwrap();
    let message = format!("{:#}", read_lff_layout(&dir).unwrap_err());
    assert!(
        message.contains("valid/attrs.npy") && message.contains("a text file"),
        "{message}"
    );
}

#[test]
fn data_make_writes_lffs_layout() {
    let out = tempfile::tempdir().unwrap();
    lntl_ok([
        "data",
        "make",
        "--benchmark",
        "lff",
        "--conflict-ratio",
        "0.005",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    let data = read_lff_layout(&out.path().join("ColoredMNIST-Skewed0.005-Severity4")).unwrap();
    let colors = data.train.color_classes.as_ref().unwrap();
    assert_eq!(conflicting(&data.train.labels, colors), 300);
    // The default seed is 0: the same bytes as the library's generator.
    assert_eq!(
        data.train.images,
        generate(&real_mnist(), 0.005, 4, 0).unwrap().train.images
    );
}

/// `lntl data stats` and `preview` on LfF's benchmark: the conflicting counts, each color's
/// images around its palette color, and a sheet of ten rows.
#[test]
fn stats_and_preview_on_lff_data() {
    let out = lntl_ok([
        "data",
        "stats",
        "--benchmark",
        "lff",
        "--conflict-ratio",
        "0.01",
        "--json",
    ]);
    let stats: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["train"]["conflicting"], 598);
    assert_eq!(stats["test"]["conflicting"], 9000);
    for (k, color) in stats["train"]["colors"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        for c in 0..3 {
            let mean = color["mean"][c].as_f64().unwrap();
            let palette = f64::from(MEAN_COLORS[k][c]);
            // The brightest pixel, truncated to a byte, sits up to 1/255 below k·255.
            assert!(
                mean <= palette + 1e-3 && mean > palette - 0.006,
                "color {k} channel {c}: {mean} against {palette}"
            );
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("preview.png");
    lntl_ok([
        "data",
        "preview",
        "--benchmark",
        "lff",
        "--conflict-ratio",
        "0.01",
        "--out",
        png.to_str().unwrap(),
    ]);
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let info = decoder.read_info().unwrap().info().clone();
    // Ten rows of 56-pixel digits under a 30-pixel header.
    assert_eq!(info.height, 10 * 56 + 30);
}

/// `--validation` on LfF's benchmark: the construction on the first 50,000 training digits,
/// the last 10,000 training digits colored like the test split; the two never share a digit.
#[test]
fn validation_holds_out_the_last_training_digits() {
    let mnist = real_mnist();
    let data = generate_validation(&mnist, 0.01, 4, 0).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (50_000, 10_000));
    assert_eq!(data.train.labels[..], mnist.train.labels[..50_000]);
    assert_eq!(data.test.labels[..], mnist.train.labels[50_000..]);
    let train_colors = data.train.color_classes.as_ref().unwrap();
    let test_colors = data.test.color_classes.as_ref().unwrap();
    let train_conflicting = conflicting(&data.train.labels, train_colors);
    let test_conflicting = conflicting(&data.test.labels, test_colors);
    eprintln!("{train_conflicting} {test_conflicting}");
    // 1 % of 50,000 within the rule's rounding per class and color; nine tenths of 10,000.
    assert!(
        (480..=520).contains(&train_conflicting),
        "{train_conflicting}"
    );
    assert!(
        (8_990..=9_010).contains(&test_conflicting),
        "{test_conflicting}"
    );
}
