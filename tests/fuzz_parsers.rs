//! Structure-aware mutation fuzzing of every parser and loader, on stable Rust: each starts from
//! valid files (IDX, gzip, pickle, the authors' `.npy`, our dataset file, a checkpoint,
//! `config.json`, `result.json`), applies a deterministic stream of mutations (bit flips,
//! boundary values, truncation, insertion, deletion, duplication, splicing between seeds) and
//! requires an `Ok` or an `Err`, never a panic. A stack overflow or an allocation failure would
//! abort the whole test, which fails it too.
//!
//! Byte-level mutations of our own files (dataset, checkpoint) stop at their whole-file
//! checksum, so those two are also fuzzed one level up: a valid file's metadata and tensors are
//! mutated (values, names, shapes, element types, bytes) and written with a correct checksum,
//! so that every mutation reaches the structure checks behind it; the test requires that they
//! were reached.
//!
//! `LNTL_FUZZ_ITERS=N` sets the executions per target (default 300, the bounded run of the
//! test suite). Inputs that panic are written to `tests/fuzz/crashers/TARGET-K.bin`; every
//! target runs the files saved there under its name before its own inputs, so a fixed crash
//! stays fixed.

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
use lntl::util::tensor_file::{ElementType, StoredTensor, TensorFile};
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

/// The inputs saved under `target`'s name by an earlier failing run, in name order.
fn saved_crashers(target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(crasher_dir()) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.strip_prefix(target)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.ends_with(".bin"))
        })
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn target_rng(target: &str) -> ChaCha8Rng {
    // FNV-1a of the name: every target has its own fixed stream.
    ChaCha8Rng::seed_from_u64(target.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    }))
}

/// Runs `check` on `target`'s saved crashers, then on `iterations()` inputs from `next_input`;
/// returns the number of executions. Panicking inputs are saved and fail the target.
fn fuzz_inputs(
    target: &str,
    mut next_input: impl FnMut(&mut ChaCha8Rng) -> Vec<u8>,
    check: impl Fn(&[u8]),
) -> usize {
    let mut rng = target_rng(target);
    let mut inputs = saved_crashers(target);
    inputs.extend((0..iterations()).map(|_| next_input(&mut rng)));
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let crashers: Vec<&Vec<u8>> = inputs
        .iter()
        .filter(|input| catch_unwind(AssertUnwindSafe(|| check(input))).is_err())
        .collect();
    std::panic::set_hook(hook);
    for (k, input) in crashers.iter().enumerate() {
        std::fs::create_dir_all(crasher_dir()).unwrap();
        std::fs::write(crasher_dir().join(format!("{target}-{k}.bin")), input).unwrap();
    }
    assert!(
        crashers.is_empty(),
        "{target}: {} of {} inputs panicked; saved in tests/fuzz/crashers/",
        crashers.len(),
        inputs.len()
    );
    eprintln!("{target}: {} executions, no panic", inputs.len());
    inputs.len()
}

/// Byte-level fuzzing: the seeds themselves, then mutations of them.
fn fuzz(target: &str, seeds: Vec<Vec<u8>>, check: impl Fn(&[u8])) -> usize {
    let mut pending = seeds.clone();
    pending.reverse();
    fuzz_inputs(
        target,
        |rng| {
            pending.pop().unwrap_or_else(|| {
                let base = &seeds[rng.random_range(0..seeds.len())];
                mutate(base, &seeds, rng)
            })
        },
        check,
    )
}

/// A loader that reads a file: the input is written to `path` first.
fn through_file(path: &Path, input: &[u8], load: impl Fn(&Path)) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(input))
        .unwrap();
    load(path);
}

fn element_size(element: ElementType) -> usize {
    match element {
        ElementType::U8 => 1,
        ElementType::F32 => 4,
        ElementType::U64 => 8,
    }
}

/// Gives `tensor` a new shape or element type, with as many bytes as they need (zeros appended,
/// or the end cut off); `None` when that would be more than 16 MiB.
fn reshaped(
    tensor: &StoredTensor,
    shape: Vec<usize>,
    element: ElementType,
) -> Option<StoredTensor> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    let len = count.checked_mul(element_size(element))?;
    (len <= 16 << 20).then(|| {
        let mut bytes = tensor.bytes.clone();
        bytes.resize(len, 0);
        StoredTensor {
            element,
            shape,
            bytes,
        }
    })
}

/// One structural mutation of a valid file: a metadata value changed or removed, a tensor
/// removed, renamed, given a dimension more, one less or another length, retyped, or with
/// changed bytes.
fn mutate_structure(file: &TensorFile, rng: &mut ChaCha8Rng) -> TensorFile {
    let mut out = file.clone();
    let keys: Vec<String> = out.metadata.keys().cloned().collect();
    let names: Vec<String> = out.tensors.keys().cloned().collect();
    if keys.is_empty() || names.is_empty() {
        return out;
    }
    let key = keys[rng.random_range(0..keys.len())].clone();
    let name = names[rng.random_range(0..names.len())].clone();
    let tensor = out.tensors[&name].clone();
    match rng.random_range(0..8) {
        0 => {
            const ODD: [&str; 9] = [
                "",
                "-1",
                "0",
                "18446744073709551616",
                "NaN",
                "inf",
                "1e308",
                "{}",
                "null",
            ];
            out.metadata
                .insert(key, ODD[rng.random_range(0..ODD.len())].to_string());
        }
        1 => {
            let value = out.metadata[&key].clone().into_bytes();
            let mutated = mutate(&value, std::slice::from_ref(&value), rng);
            out.metadata
                .insert(key, String::from_utf8_lossy(&mutated).into_owned());
        }
        2 => {
            out.metadata.remove(&key);
        }
        3 => {
            out.tensors.remove(&name);
        }
        4 => {
            let other = names[rng.random_range(0..names.len())].clone();
            let moved = out.tensors.remove(&name).unwrap();
            out.tensors.insert(other, moved);
        }
        5 => {
            let mut shape = tensor.shape.clone();
            match rng.random_range(0..4) {
                0 => shape.push(rng.random_range(0..3)),
                1 => {
                    shape.pop();
                }
                _ if !shape.is_empty() => {
                    let d = rng.random_range(0..shape.len());
                    shape[d] = [0, 1, shape[d].saturating_sub(1), shape[d] + 1, shape[d] * 2]
                        [rng.random_range(0..5)];
                }
                _ => {}
            }
            if let Some(t) = reshaped(&tensor, shape, tensor.element) {
                out.tensors.insert(name, t);
            }
        }
        6 => {
            let element =
                [ElementType::U8, ElementType::F32, ElementType::U64][rng.random_range(0..3)];
            if let Some(t) = reshaped(&tensor, tensor.shape.clone(), element) {
                out.tensors.insert(name, t);
            }
        }
        _ => {
            let t = out.tensors.get_mut(&name).unwrap();
            for _ in 0..rng.random_range(1..=8) {
                if !t.bytes.is_empty() {
                    let at = rng.random_range(0..t.bytes.len());
                    t.bytes[at] = [0, 9, 10, 0x7f, 0x80, 0xff][rng.random_range(0..6)];
                }
            }
        }
    }
    out
}

/// Fuzzes `load` with structural mutations of the valid file at `valid`, each written with a
/// correct checksum. Requires that no input stopped at the checksum and that the loader's own
/// checks rejected some.
fn fuzz_signed(target: &str, valid: &Path, kind: &str, load: impl Fn(&Path) -> anyhow::Result<()>) {
    let base = TensorFile::read(valid, kind, 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = dir.path().join("mutant.safetensors");
    let loaded = dir.path().join("input.safetensors");
    let errors = std::cell::RefCell::new(Vec::new());
    fuzz_inputs(
        target,
        |rng| {
            let mut mutant = mutate_structure(&base, rng);
            for _ in 0..rng.random_range(0..3) {
                mutant = mutate_structure(&mutant, rng);
            }
            mutant.write(&written).unwrap();
            std::fs::read(&written).unwrap()
        },
        |b| {
            through_file(&loaded, b, |p| {
                if let Err(e) = load(p) {
                    errors.borrow_mut().push(format!("{e:#}"));
                }
            })
        },
    );
    let errors = errors.into_inner();
    eprintln!(
        "{target}: {} mutants rejected by the loader's checks",
        errors.len()
    );
    let at_checksum = errors.iter().filter(|e| e.contains("checksum")).count();
    assert_eq!(
        at_checksum,
        0,
        "{target}: mutants stopped at the checksum: {:?}",
        errors.iter().find(|e| e.contains("checksum"))
    );
    assert!(
        errors.len() >= iterations() / 4,
        "{target}: only {} of {} mutants were rejected",
        errors.len(),
        iterations()
    );
}

fn zip_entry(archive: &[u8], name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut out).unwrap();
    out
}

/// `archive` with entry `name` holding `content` instead, the other entries copied as they are.
fn replace_zip_entry(archive: &[u8], name: &str, content: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(archive)).unwrap();
    let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).unwrap();
        if entry.name().is_ok_and(|n| n == name) {
            drop(entry);
            out.start_file(name, stored).unwrap();
            out.write_all(content).unwrap();
        } else {
            out.raw_copy_file(entry).unwrap();
        }
    }
    out.finish().unwrap().into_inner()
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
    // Ours, and numpy's own with pickle protocols 2 and 4 (tools/make_npy_fixtures.py).
    let mut npy_seeds = vec![std::fs::read(&npy).unwrap()];
    for protocol in [2, 4] {
        npy_seeds.push(
            std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
                "tests/fixtures/original_tiny_protocol{protocol}/mnist_10color_jitter_var_0.030.npy"
            )))
            .unwrap(),
        );
    }
    let fuzzed = dir.path().join("mnist_10color_jitter_var_0.020.npy");
    fuzz("npy", npy_seeds, |b| {
        through_file(&fuzzed, b, |p| {
            let _ = read_original(p);
        })
    });

    let ours = dir.path().join("set.safetensors");
    store::save(&data, &ours).unwrap();
    let seed = std::fs::read(&ours).unwrap();
    let fuzzed = dir.path().join("fuzzed.safetensors");
    fuzz("dataset", vec![seed], |b| {
        through_file(&fuzzed, b, |p| {
            let _ = store::load(p);
        })
    });
    fuzz_signed("dataset_signed", &ours, "lntl-colored-mnist", |p| {
        store::load(p).map(|_| ())
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
    fuzz_signed("checkpoint_signed", &checkpoint, "lntl-checkpoint", |p| {
        let mut c = load_checkpoint(p)?;
        restore(&mut c, &mut Model::new(0), Restore::Everything)
    });

    // The authors' PyTorch checkpoints: the legacy format's pickles sit in its first kilobytes,
    // so mutations land there and the storages follow unchanged; the zip format's pickle is
    // mutated inside the archive, which is then packed again (a byte flip in the archive
    // itself stops at the entry's CRC).
    let pth = |name: &str| {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/pth")
                .join(name),
        )
        .unwrap()
    };
    let load_pth = |p: &Path| {
        if let Ok(mut c) = load_checkpoint(p) {
            let _ = restore(&mut c, &mut Model::new(0), Restore::Features);
        }
    };
    let legacy = pth("legacy.pth");
    let head = legacy[..8192].to_vec();
    let fuzzed_pth = dir.path().join("fuzzed.pth");
    fuzz("pth_legacy", vec![head], |b| {
        let mut input = b.to_vec();
        input.extend_from_slice(&legacy[8192..]);
        through_file(&fuzzed_pth, &input, load_pth)
    });
    let zipped = pth("zip.pth");
    let data_pkl = zip_entry(&zipped, "zip/data.pkl");
    fuzz("pth_zip", vec![data_pkl], |b| {
        through_file(
            &fuzzed_pth,
            &replace_zip_entry(&zipped, "zip/data.pkl", b),
            load_pth,
        )
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
