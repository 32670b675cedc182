//! Named tensors plus string metadata in one safetensors file, with a checksum of the data.
//!
//! Every file the project writes for itself (cached MNIST, generated Colored-MNIST, checkpoints)
//! is one of these: safetensors gives a documented layout that loads with a single read, and the
//! `kind`, `version` and `checksum` metadata entries let a reader reject a wrong or damaged file
//! with a clear message instead of training on garbage. The checksum is a CRC-32 of everything
//! else in the file: every metadata entry, and every tensor's name, type, shape and bytes, so a
//! changed epoch count or tensor name is caught like a changed weight. Files written before it
//! carry `crc32`, a CRC-32 of the tensor bytes alone, which is still verified when read.

use crate::util::atomic::write_bytes_atomic;
use crate::util::file_kind::describe;
use anyhow::{Context, Result, bail, ensure};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The element types the project stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// Unsigned bytes (images, labels).
    U8,
    /// 32-bit floats (weights, statistics).
    F32,
    /// 64-bit unsigned integers (counters, RNG state).
    U64,
}

impl ElementType {
    fn dtype(self) -> Dtype {
        match self {
            ElementType::U8 => Dtype::U8,
            ElementType::F32 => Dtype::F32,
            ElementType::U64 => Dtype::U64,
        }
    }
}

/// One stored tensor: little-endian element bytes in row-major order.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTensor {
    /// Element type.
    pub element: ElementType,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Raw bytes.
    pub bytes: Vec<u8>,
}

/// A set of named tensors with metadata, read from or written to one file.
#[derive(Debug, Clone)]
pub struct TensorFile {
    /// Free-form string metadata (beside the reserved `kind`, `version` and `crc32`).
    pub metadata: BTreeMap<String, String>,
    /// Tensors by name.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// Where the file was read from, for error messages.
    pub path: PathBuf,
}

/// The whole-file checksum: CRC-32 over the metadata entries and the tensors, in name order,
/// each field preceded by its length so that no two different files hash the same sequence.
fn checksum(
    metadata: &BTreeMap<String, String>,
    tensors: &BTreeMap<String, StoredTensor>,
) -> String {
    let mut hasher = crc32fast::Hasher::new();
    let mut field = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    for (key, value) in metadata {
        field(key.as_bytes());
        field(value.as_bytes());
    }
    for (name, t) in tensors {
        field(name.as_bytes());
        field(format!("{:?}{:?}", t.element, t.shape).as_bytes());
        field(&t.bytes);
    }
    format!("{:08x}", hasher.finalize())
}

/// The checksum of files written before the whole-file one: the tensor bytes alone.
fn legacy_data_checksum(tensors: &BTreeMap<String, StoredTensor>) -> String {
    let mut hasher = crc32fast::Hasher::new();
    for t in tensors.values() {
        hasher.update(&t.bytes);
    }
    format!("{:08x}", hasher.finalize())
}

/// safetensors writes the metadata map in hash order, which differs from run to run; this
/// rewrites the JSON header with its keys sorted (serde_json's maps are ordered), so the same
/// content always gives the same bytes. The entries keep their explicit data offsets and the
/// header its length, so the data needs no change.
fn sorted_header(mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    let n = u64::from_le_bytes(bytes[..8].try_into().context("header length")?) as usize;
    let header: serde_json::Value =
        serde_json::from_slice(&bytes[8..8 + n]).context("safetensors header")?;
    let mut sorted = serde_json::to_vec(&header)?;
    ensure!(
        sorted.len() <= n,
        "the sorted header is longer than the original"
    );
    sorted.resize(n, b' ');
    bytes[8..8 + n].copy_from_slice(&sorted);
    Ok(bytes)
}

impl TensorFile {
    /// An empty file of the given `kind` and format `version`.
    pub fn new(kind: &str, version: u32) -> TensorFile {
        let metadata = BTreeMap::from([
            ("kind".to_string(), kind.to_string()),
            ("version".to_string(), version.to_string()),
        ]);
        TensorFile {
            metadata,
            tensors: BTreeMap::new(),
            path: PathBuf::new(),
        }
    }

    /// Adds a byte tensor.
    pub fn put_u8(&mut self, name: &str, shape: &[usize], bytes: Vec<u8>) {
        self.put(name, ElementType::U8, shape, bytes);
    }

    /// Adds an f32 tensor.
    pub fn put_f32(&mut self, name: &str, shape: &[usize], values: &[f32]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(name, ElementType::F32, shape, bytes);
    }

    /// Adds a u64 tensor.
    pub fn put_u64(&mut self, name: &str, values: &[u64]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.put(name, ElementType::U64, &[values.len()], bytes);
    }

    fn put(&mut self, name: &str, element: ElementType, shape: &[usize], bytes: Vec<u8>) {
        self.tensors.insert(
            name.to_string(),
            StoredTensor {
                element,
                shape: shape.to_vec(),
                bytes,
            },
        );
    }

    /// Writes the file atomically, adding the whole-file checksum to the metadata. The same
    /// content always gives the same bytes (metadata in key order), so files can be compared.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut metadata: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        metadata.insert("checksum".into(), checksum(&self.metadata, &self.tensors));
        let views = self
            .tensors
            .iter()
            .map(|(name, t)| {
                TensorView::new(t.element.dtype(), t.shape.clone(), &t.bytes)
                    .map(|v| (name.clone(), v))
            })
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: inconsistent tensor", path.display()))?;
        let bytes = safetensors::serialize(views, Some(metadata))
            .with_context(|| format!("{}: cannot serialize", path.display()))?;
        write_bytes_atomic(path, &sorted_header(bytes)?)
    }

    /// Reads a file, checking that it is of `kind`, of a `version` this build reads, and intact.
    pub fn read(path: &Path, kind: &str, version: u32) -> Result<TensorFile> {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        Self::parse(&bytes, path, kind, version)
    }

    fn parse(bytes: &[u8], path: &Path, kind: &str, version: u32) -> Result<TensorFile> {
        let name = path.display();
        let st = SafeTensors::deserialize(bytes).with_context(|| {
            let found = describe(bytes);
            if found == "a safetensors file" {
                format!("{name}: a safetensors file, but truncated or corrupt")
            } else {
                format!("{name}: not a safetensors file (this is {found})")
            }
        })?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .with_context(|| format!("{name}: unreadable header"))?;
        let mut metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let found_kind = metadata.get("kind").map(String::as_str).unwrap_or("(none)");
        ensure!(
            found_kind == kind,
            "{name}: this is a '{found_kind}' file, expected '{kind}'"
        );
        let found_version = metadata
            .get("version")
            .map(String::as_str)
            .unwrap_or("(none)");
        ensure!(
            found_version == version.to_string(),
            "{name}: format version {found_version} is not the supported version {version}"
        );
        let mut tensors = BTreeMap::new();
        for (tensor_name, view) in st.iter() {
            let element = match view.dtype() {
                Dtype::U8 => ElementType::U8,
                Dtype::F32 => ElementType::F32,
                Dtype::U64 => ElementType::U64,
                other => bail!("{name}: tensor '{tensor_name}' has unsupported dtype {other:?}"),
            };
            tensors.insert(
                tensor_name.to_string(),
                StoredTensor {
                    element,
                    shape: view.shape().to_vec(),
                    bytes: view.data().to_vec(),
                },
            );
        }
        let (stored, actual) = match (metadata.remove("checksum"), metadata.remove("crc32")) {
            (Some(stored), None) => (stored, checksum(&metadata, &tensors)),
            (None, Some(stored)) => (stored, legacy_data_checksum(&tensors)),
            _ => bail!("{name}: the header has no checksum (or two): the file is corrupt"),
        };
        ensure!(
            stored == actual,
            "{name}: checksum mismatch (stored {stored}, content {actual}): the file is corrupt"
        );
        Ok(TensorFile {
            metadata,
            tensors,
            path: path.to_path_buf(),
        })
    }

    /// A metadata entry, or an error naming the file.
    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .with_context(|| format!("{}: metadata entry '{key}' is missing", self.path.display()))
    }

    fn take(&mut self, name: &str, element: ElementType, shape: &[usize]) -> Result<Vec<u8>> {
        let file = self.path.display();
        let t = self
            .tensors
            .remove(name)
            .with_context(|| format!("{file}: tensor '{name}' is missing"))?;
        ensure!(
            t.element == element,
            "{file}: tensor '{name}' has element type {:?}, expected {element:?}",
            t.element
        );
        ensure!(
            t.shape == shape,
            "{file}: tensor '{name}' has shape {:?}, expected {shape:?}",
            t.shape
        );
        Ok(t.bytes)
    }

    /// Removes and returns a byte tensor of exactly `shape`.
    pub fn take_u8(&mut self, name: &str, shape: &[usize]) -> Result<Vec<u8>> {
        self.take(name, ElementType::U8, shape)
    }

    /// Removes and returns an f32 tensor of exactly `shape`.
    pub fn take_f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let bytes = self.take(name, ElementType::F32, shape)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect())
    }

    /// Removes and returns a u64 tensor of `len` elements.
    pub fn take_u64(&mut self, name: &str, len: usize) -> Result<Vec<u64>> {
        let bytes = self.take(name, ElementType::U64, &[len])?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TensorFile {
        let mut f = TensorFile::new("test-kind", 1);
        f.metadata.insert("note".into(), "hello".into());
        f.put_u8("bytes", &[2, 3], vec![1, 2, 3, 4, 5, 6]);
        f.put_f32("floats", &[2], &[0.5, -1.0]);
        f.put_u64("counter", &[7, u64::MAX]);
        f
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        sample().write(&path).unwrap();
        let mut back = TensorFile::read(&path, "test-kind", 1).unwrap();
        assert_eq!(back.meta("note").unwrap(), "hello");
        assert_eq!(
            back.take_u8("bytes", &[2, 3]).unwrap(),
            vec![1, 2, 3, 4, 5, 6]
        );
        assert_eq!(back.take_f32("floats", &[2]).unwrap(), vec![0.5, -1.0]);
        assert_eq!(back.take_u64("counter", 2).unwrap(), vec![7, u64::MAX]);
    }

    #[test]
    fn wrong_kind_shape_and_corruption_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        sample().write(&path).unwrap();
        let err = TensorFile::read(&path, "other", 1).unwrap_err();
        assert!(format!("{err:#}").contains("expected 'other'"));
        let err = TensorFile::read(&path, "test-kind", 2).unwrap_err();
        assert!(format!("{err:#}").contains("version"));
        let mut f = TensorFile::read(&path, "test-kind", 1).unwrap();
        let err = f.take_u8("bytes", &[3, 2]).unwrap_err();
        assert!(format!("{err:#}").contains("shape [2, 3]"));

        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = TensorFile::read(&path, "test-kind", 1).unwrap_err();
        assert!(format!("{err:#}").contains("checksum mismatch"), "{err:#}");

        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let err = TensorFile::read(&path, "test-kind", 1).unwrap_err();
        assert!(format!("{err:#}").contains("t.safetensors"), "{err:#}");
    }

    /// Replaces the first occurrence of `from` in the file's bytes by `to` (same length).
    fn edit_file(path: &Path, from: &[u8], to: &[u8]) {
        let mut bytes = std::fs::read(path).unwrap();
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("pattern present");
        bytes[at..at + to.len()].copy_from_slice(to);
        std::fs::write(path, &bytes).unwrap();
    }

    #[test]
    fn the_checksum_covers_metadata_names_and_shapes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.safetensors");
        for (from, to) in [
            (&b"hello"[..], &b"hellp"[..]),
            (b"\"floats\"", b"\"floatz\""),
            (b"[2,3]", b"[3,2]"),
        ] {
            sample().write(&path).unwrap();
            edit_file(&path, from, to);
            let err = TensorFile::read(&path, "test-kind", 1).unwrap_err();
            assert!(
                format!("{err:#}").contains("checksum mismatch"),
                "{}: {err:#}",
                String::from_utf8_lossy(to)
            );
        }
        sample().write(&path).unwrap();
        edit_file(&path, b"checksum", b"checksun");
        let err = TensorFile::read(&path, "test-kind", 1).unwrap_err();
        assert!(format!("{err:#}").contains("no checksum"), "{err:#}");
    }

    #[test]
    fn the_same_content_gives_the_same_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut file = sample();
        for i in 0..20 {
            file.metadata.insert(format!("key{i}"), i.to_string());
        }
        file.write(&a).unwrap();
        file.write(&b).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }
}
