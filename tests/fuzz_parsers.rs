//! Structure-aware mutation fuzzing of every parser and loader, on stable Rust: each starts from
//! valid files (IDX, gzip, pickle, the authors' `.npy`, our dataset file, a checkpoint,
//! `config.json`, `result.json`), applies a deterministic stream of mutations (bit flips,
//! boundary values, truncation, insertion, deletion, duplication, splicing between seeds) and
//! requires an `Ok` or an `Err`, never a panic. A stack overflow or an allocation failure would
//! abort the whole test, which fails it too.
//!
//! `LNTL_FUZZ_ITERS=N` sets the executions per target (default 300, the bounded run of the
//! test suite). Inputs that panic are written to `tests/fuzz/crashers/` and replayed by
//! `crashers_stay_fixed`, which runs every file there as a regression test.

use lntl::colored::dataset::{ColoredMnist, ColoredSplit};
use lntl::colored::original_npy::{read_original, write_original};
use lntl::colored::store;
use lntl::data::gzip::maybe_gunzip;
use lntl::data::idx::{encode_idx, parse_idx};
use lntl::data::numpy::{NdArray, ndarray_to_value};
use lntl::data::pickle::{pickle, unpickle};
use lntl::train::checkpoint::{Restore, load_checkpoint, restore, save_checkpoint};
use lntl::train::config::{DatasetChoice, Method, TrainConfig};
use lntl::train::model::Model;
use lntl::train::result::read_result;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn iterations() -> usize {
    std::env::var("LNTL_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

fn crasher_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/crashers")
}

/// One mutation of `input`, guided by the seeds' structure only through splicing.
fn mutate(input: &[u8], seeds: &[Vec<u8>], rng: &mut ChaCha8Rng) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = out.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..8) {
            0 if len > 0 => out[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => out[at] = [0, 1, 0x7f, 0x80, 0xff][rng.random_range(0..5)],
            2 if len > 0 => out.truncate(at),
            3 => {
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(at..at, bytes);
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..64)).min(len);
                out.drain(at..end);
            }
            5 if len > 0 => {
                let end = (at + rng.random_range(1..64)).min(len);
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            6 if len >= 8 => {
                // A little-endian length or offset field set to a boundary value.
                let at = at.min(len - 8);
                let value: u64 =
                    [0, 1, u64::from(u32::MAX), u64::MAX, len as u64 * 2][rng.random_range(0..5)];
                out[at..at + 8].copy_from_slice(&value.to_le_bytes());
            }
            _ => {
                let other = &seeds[rng.random_range(0..seeds.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let end = (from + rng.random_range(1..256)).min(other.len());
                    let keep = at.min(out.len());
                    out.truncate(keep);
                    out.extend_from_slice(&other[from..end]);
                }
            }
        }
    }
    out
}

/// Runs `check` on `iterations()` mutations of `seeds` (and on the seeds themselves); returns the
/// number of executions. Panicking inputs are saved and fail the target.
fn fuzz(target: &str, seeds: Vec<Vec<u8>>, check: impl Fn(&[u8])) -> usize {
    let mut rng = ChaCha8Rng::seed_from_u64(target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }));
    let mut crashers = Vec::new();
    let mut executions = 0;
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    for i in 0..iterations() + seeds.len() {
        let input = if i < seeds.len() {
            seeds[i].clone()
        } else {
            let base = &seeds[rng.random_range(0..seeds.len())];
            mutate(base, &seeds, &mut rng)
        };
        executions += 1;
        if catch_unwind(AssertUnwindSafe(|| check(&input))).is_err() {
            crashers.push(input);
        }
    }
    std::panic::set_hook(hook);
    for (k, input) in crashers.iter().enumerate() {
        std::fs::create_dir_all(crasher_dir()).unwrap();
        std::fs::write(crasher_dir().join(format!("{target}-{k}.bin")), input).unwrap();
    }
    assert!(
        crashers.is_empty(),
        "{target}: {} of {executions} inputs panicked; saved in tests/fuzz/crashers/",
        crashers.len()
    );
    eprintln!("{target}: {executions} executions, no panic");
    executions
}

/// A loader that reads a file: the input is written to `path` first.
fn through_file(path: &Path, input: &[u8], load: impl Fn(&Path)) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(input))
        .unwrap();
    load(path);
}

fn tiny_dataset() -> ColoredMnist {
    let split = |n: usize, k: u8| ColoredSplit {
        images: (0..n * 2352).map(|i| (i % 251) as u8 ^ k).collect(),
        labels: (0..n).map(|i| (i % 10) as u8).collect(),
        color_classes: Some((0..n).map(|i| ((i + 3) % 10) as u8).collect()),
    };
    ColoredMnist {
        variance: 0.02,
        seed: Some(0),
        jitter: Some(lntl::colored::jitter::JitterRule::Reflect),
        train: split(3, 0),
        test: split(2, 7),
        test_gray: (0..2 * 784).map(|i| (i % 7) as u8).collect(),
    }
}

#[test]
fn idx_gzip_and_pickle_parsers() {
    let idx_seeds = vec![
        encode_idx(&[2, 28, 28], &vec![7u8; 2 * 784]),
        encode_idx(&[5], &[0, 1, 2, 3, 9]),
    ];
    fuzz("idx", idx_seeds, |b| {
        let _ = parse_idx(b, 3);
        let _ = parse_idx(b, 1);
    });

    let gz = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    fuzz(
        "gzip",
        vec![gz(b"hello hello hello"), gz(&[3u8; 5000])],
        |b| {
            let _ = maybe_gunzip(b.to_vec());
        },
    );

    let array = ndarray_to_value(&NdArray::new(
        vec![2, 3],
        lntl::data::numpy::Dtype::U8,
        vec![1, 2, 3, 4, 5, 6],
    ));
    fuzz("pickle", vec![pickle(&array)], |b| {
        if let Ok(v) = unpickle(b) {
            let _ = lntl::data::numpy::ndarray_from_value(&v);
        }
    });
}

#[test]
fn dataset_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = tiny_dataset();
    let npy = write_original(&data, dir.path()).unwrap();
    let npy_seed = std::fs::read(&npy).unwrap();
    let fuzzed = dir.path().join("mnist_10color_jitter_var_0.020.npy");
    fuzz("npy", vec![npy_seed], |b| {
        through_file(&fuzzed, b, |p| {
            let _ = read_original(p);
        })
    });

    let ours = dir.path().join("set.safetensors");
    store::save(&data, &ours).unwrap();
    let seed = std::fs::read(&ours).unwrap();
    fuzz("dataset", vec![seed], |b| {
        through_file(&ours, b, |p| {
            let _ = store::load(p);
        })
    });
}

#[test]
fn run_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig::paper(Method::Lntl, DatasetChoice::File("d.npy".into()));
    let config_json = serde_json::to_vec_pretty(&config).unwrap();
    fuzz("config", vec![config_json], |b| {
        let _ = serde_json::from_slice::<TrainConfig>(b);
    });

    let checkpoint = dir.path().join("checkpoint.safetensors");
    let mut model = Model::new(0);
    save_checkpoint(&checkpoint, &mut model, 3, &config).unwrap();
    let full = std::fs::read(&checkpoint).unwrap();
    let fuzzed = dir.path().join("fuzzed.safetensors");
    // Mutations land in the first 4 KiB (the header and the first tensors), the rest of the
    // file is kept, so that a mutated header still meets real tensors.
    let head = full[..full.len().min(4096)].to_vec();
    fuzz("checkpoint", vec![head], |b| {
        let mut input = b.to_vec();
        input.extend_from_slice(&full[full.len().min(4096)..]);
        through_file(&fuzzed, &input, |p| {
            if let Ok(mut c) = load_checkpoint(p) {
                let _ = restore(&mut c, &mut Model::new(0), Restore::Everything);
            }
        })
    });

    let result = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("results/paper/var_0.020/baseline/seed_0/result.json"),
    )
    .unwrap();
    let file = dir.path().join("result.json");
    fuzz("result", vec![result], |b| {
        through_file(&file, b, |p| {
            let _ = read_result(p);
        })
    });
}

#[test]
fn crashers_stay_fixed() {
    let Ok(entries) = std::fs::read_dir(crasher_dir()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for entry in entries {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let target = name.split('-').next().unwrap();
        let scratch = dir.path().join(match target {
            "npy" => "mnist_10color_jitter_var_0.020.npy",
            _ => "input",
        });
        std::fs::write(&scratch, &bytes).unwrap();
        match target {
            "idx" => {
                let _ = parse_idx(&bytes, 3);
            }
            "gzip" => {
                let _ = maybe_gunzip(bytes);
            }
            "pickle" => {
                let _ = unpickle(&bytes);
            }
            "npy" => {
                let _ = read_original(&scratch);
            }
            "dataset" => {
                let _ = store::load(&scratch);
            }
            "checkpoint" => {
                let _ = load_checkpoint(&scratch);
            }
            "config" => {
                let _ = serde_json::from_slice::<TrainConfig>(&bytes);
            }
            "result" => {
                let _ = read_result(&scratch);
            }
            other => panic!("{name}: unknown target {other}"),
        }
    }
}
