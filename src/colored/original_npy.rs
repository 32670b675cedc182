//! The authors' Colored-MNIST file: `mnist_10color_jitter_var_{σ²:.3f}.npy`, a 0-d numpy object
//! array holding a pickled dict with `train_image` (N,28,28,3) uint8, `train_label` (N,) int8,
//! `test_image`, `test_label` and `test_gray` (M,28,28) uint8. The authors' code loads it with
//! `np.load(path, allow_pickle=True, encoding='latin1').item()`.

use crate::colored::dataset::{ColoredMnist, ColoredSplit, original_file_name};
use crate::data::mnist::{CLASSES, SIDE};
use crate::data::numpy::{
    Dtype, NdArray, ndarray_from_value, ndarray_to_value, npy_header, parse_npy_header,
};
use crate::data::pickle::{Value, pickle, unpickle};
use crate::util::atomic::write_atomic;
use crate::util::file_kind::describe;
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};

/// Reads σ² from an authors'-style file name (`…var_0.020.npy`).
pub fn variance_from_file_name(path: &Path) -> Option<f64> {
    let name = path.file_name()?.to_str()?;
    let rest = name
        .strip_prefix("mnist_10color_jitter_var_")?
        .strip_suffix(".npy")?;
    rest.parse().ok()
}

fn array_entry(dict: &[(Value, Value)], key: &str, name: &str) -> Result<NdArray> {
    let value = dict
        .iter()
        .find(|(k, _)| k.as_text().as_deref() == Some(key))
        .map(|(_, v)| v)
        .with_context(|| format!("{name}: the dict has no '{key}' entry"))?;
    ndarray_from_value(value).with_context(|| format!("{name}: '{key}' is not a numpy array"))
}

fn bytes_of_shape(
    dict: &[(Value, Value)],
    key: &str,
    shape: &[usize],
    name: &str,
) -> Result<Vec<u8>> {
    let a = array_entry(dict, key, name)?;
    ensure!(
        a.shape == shape,
        "{name}: '{key}' has shape {:?}, expected {shape:?}",
        a.shape
    );
    a.to_u8()
        .with_context(|| format!("{name}: '{key}' must hold bytes (dtype {})", a.dtype.name()))
}

fn labels(dict: &[(Value, Value)], key: &str, n: usize, name: &str) -> Result<Vec<u8>> {
    let a = array_entry(dict, key, name)?;
    ensure!(
        a.shape == [n],
        "{name}: '{key}' has shape {:?}, expected [{n}]",
        a.shape
    );
    let values = a
        .to_i64()
        .with_context(|| format!("{name}: '{key}' must be integers"))?;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            u8::try_from(v)
                .ok()
                .filter(|&l| usize::from(l) < CLASSES)
                .with_context(|| format!("{name}: '{key}'[{i}] = {v} is outside 0..9"))
        })
        .collect()
}

fn image_count(dict: &[(Value, Value)], key: &str, name: &str) -> Result<usize> {
    let a = array_entry(dict, key, name)?;
    match a.shape.as_slice() {
        [n, h, w, 3] if *h == SIDE && *w == SIDE => Ok(*n),
        s => bail!("{name}: '{key}' has shape {s:?}, expected [N, 28, 28, 3]"),
    }
}

/// Reads an authors'-format file. σ² comes from the file name.
pub fn read_original(path: &Path) -> Result<ColoredMnist> {
    let name = path.display().to_string();
    let variance = variance_from_file_name(path).with_context(|| {
        format!(
            "{name}: cannot tell σ² from the file name (expected mnist_10color_jitter_var_<σ²>.npy)"
        )
    })?;
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let header = parse_npy_header(&bytes)
        .with_context(|| format!("{name}: not a .npy file (this is {})", describe(&bytes)))?;
    ensure!(
        header.descr == "|O" && header.shape.is_empty(),
        "{name}: expected a pickled dict (dtype |O, shape ()), found dtype {} shape {:?}",
        header.descr,
        header.shape
    );
    let value = unpickle(&bytes[header.data_offset..])
        .with_context(|| format!("{name}: the pickled payload is unreadable"))?;
    let outer = ndarray_from_value(&value).with_context(|| format!("{name}: payload"))?;
    let Some(Value::Dict(dict)) = outer.objects.first() else {
        bail!("{name}: the object array does not hold a dict");
    };
    let n = image_count(dict, "train_image", &name)?;
    let m = image_count(dict, "test_image", &name)?;
    Ok(ColoredMnist {
        variance,
        seed: None,
        jitter: None,
        train: ColoredSplit {
            images: bytes_of_shape(dict, "train_image", &[n, SIDE, SIDE, 3], &name)?,
            labels: labels(dict, "train_label", n, &name)?,
            color_classes: None,
        },
        test: ColoredSplit {
            images: bytes_of_shape(dict, "test_image", &[m, SIDE, SIDE, 3], &name)?,
            labels: labels(dict, "test_label", m, &name)?,
            color_classes: None,
        },
        test_gray: bytes_of_shape(dict, "test_gray", &[m, SIDE, SIDE], &name)?,
    })
}

fn entry(key: &str, shape: Vec<usize>, dtype: Dtype, data: Vec<u8>) -> (Value, Value) {
    (
        Value::Str(key.into()),
        ndarray_to_value(&NdArray::new(shape, dtype, data)),
    )
}

/// Writes `data` in the authors' format as `dir/mnist_10color_jitter_var_{σ²}.npy` (atomic);
/// returns the path.
pub fn write_original(data: &ColoredMnist, dir: &Path) -> Result<PathBuf> {
    let (n, m) = (data.train.len(), data.test.len());
    let dict = Value::Dict(vec![
        entry(
            "train_image",
            vec![n, SIDE, SIDE, 3],
            Dtype::U8,
            data.train.images.clone(),
        ),
        entry("train_label", vec![n], Dtype::I8, data.train.labels.clone()),
        entry(
            "test_image",
            vec![m, SIDE, SIDE, 3],
            Dtype::U8,
            data.test.images.clone(),
        ),
        entry("test_label", vec![m], Dtype::I8, data.test.labels.clone()),
        entry(
            "test_gray",
            vec![m, SIDE, SIDE],
            Dtype::U8,
            data.test_gray.clone(),
        ),
    ]);
    let outer = NdArray {
        shape: Vec::new(),
        dtype: Dtype::Object,
        data: Vec::new(),
        objects: vec![dict],
    };
    let payload = pickle(&ndarray_to_value(&outer));
    let path = dir.join(original_file_name(data.variance));
    write_atomic(&path, |w| {
        w.write_all(&npy_header("|O", &[]))?;
        w.write_all(&payload)?;
        Ok(())
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn tiny() -> ColoredMnist {
        let n = 3;
        let m = 2;
        ColoredMnist {
            variance: 0.02,
            seed: None,
            jitter: None,
            train: ColoredSplit {
                images: (0..n * 2352).map(|i| (i % 251) as u8).collect(),
                labels: vec![0, 9, 4],
                color_classes: None,
            },
            test: ColoredSplit {
                images: (0..m * 2352).map(|i| (i % 13) as u8).collect(),
                labels: vec![7, 1],
                color_classes: None,
            },
            test_gray: (0..m * 784).map(|i| (i % 7) as u8).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_original(&tiny(), dir.path()).unwrap();
        assert!(path.ends_with("mnist_10color_jitter_var_0.020.npy"));
        assert_eq!(read_original(&path).unwrap(), tiny());
    }

    /// Files numpy itself wrote (tools/make_npy_fixtures.py), pickled with protocol 2 (the
    /// authors' Python 2 files) and 4 (numpy 2's `np.save`, whose pickles name
    /// `numpy._core.multiarray`): the reader sees what numpy put there.
    #[test]
    fn reads_files_numpy_wrote() {
        let pattern = |len: usize, step: usize, offset: usize| -> Vec<u8> {
            (0..len)
                .map(|i| ((i * step + offset) % 256) as u8)
                .collect()
        };
        for protocol in [2, 4] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
                "tests/fixtures/original_tiny_protocol{protocol}/mnist_10color_jitter_var_0.030.npy"
            ));
            let data = read_original(&path).unwrap();
            assert_eq!(data.variance, 0.03);
            assert_eq!(data.train.images, pattern(3 * 2352, 7, 3));
            assert_eq!(data.train.labels, [0, 9, 4]);
            assert_eq!(data.test.images, pattern(2 * 2352, 11, 5));
            assert_eq!(data.test.labels, [7, 1]);
            assert_eq!(data.test_gray, pattern(2 * 784, 13, 0));
        }
    }

    #[test]
    fn truncated_or_corrupt_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_original(&tiny(), dir.path()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let msg = format!("{:#}", read_original(&path).unwrap_err());
            assert!(msg.contains("var_0.020.npy"), "{msg}");
        }
    }

    #[test]
    fn wrong_dtypes_and_shapes_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let data = tiny();
        let float_images: Vec<u8> = data
            .train
            .images
            .iter()
            .flat_map(|&b| f32::from(b).to_le_bytes())
            .collect();
        let n = data.train.len();
        let cases = [
            (
                "train_image",
                entry(
                    "train_image",
                    vec![n, SIDE, SIDE, 3],
                    Dtype::F32,
                    float_images,
                ),
                "must hold bytes",
            ),
            (
                "test_gray",
                entry(
                    "test_gray",
                    vec![2, SIDE, SIDE - 1],
                    Dtype::U8,
                    vec![0; 2 * SIDE * (SIDE - 1)],
                ),
                "shape",
            ),
        ];
        for (key, replacement, expected) in cases {
            let path = write_original(&data, dir.path()).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let header = parse_npy_header(&bytes).unwrap();
            let mut outer =
                ndarray_from_value(&unpickle(&bytes[header.data_offset..]).unwrap()).unwrap();
            let Value::Dict(dict) = &mut outer.objects[0] else {
                panic!("dict")
            };
            let slot = dict
                .iter_mut()
                .find(|(k, _)| k.as_text().as_deref() == Some(key))
                .unwrap();
            *slot = replacement;
            let mut out = npy_header("|O", &[]);
            out.extend(pickle(&ndarray_to_value(&outer)));
            std::fs::write(&path, out).unwrap();
            let msg = format!("{:#}", read_original(&path).unwrap_err());
            assert!(msg.contains(key) && msg.contains(expected), "{msg}");
        }
    }

    #[test]
    fn bad_labels_and_names_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let mut data = tiny();
        data.train.labels[1] = 10;
        let path = write_original(&data, dir.path()).unwrap();
        let msg = format!("{:#}", read_original(&path).unwrap_err());
        assert!(msg.contains("'train_label'[1] = 10"), "{msg}");
        let renamed = dir.path().join("data.npy");
        std::fs::rename(&path, &renamed).unwrap();
        let msg = format!("{:#}", read_original(&renamed).unwrap_err());
        assert!(msg.contains("σ²"), "{msg}");
    }
}
