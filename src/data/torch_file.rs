//! PyTorch's checkpoint files (`torch.save`), in both of its formats, read without Python:
//!
//! - the legacy format (PyTorch < 1.6, e.g. the authors' 0.4, and `torch.save(...,
//!   _use_new_zipfile_serialization=False)` since): five pickles in a row (the magic number, the
//!   format version 1001, system information, the object, the sorted list of storage keys),
//!   then each storage in that order as an int64 element count and its raw bytes;
//! - the zip format (PyTorch ≥ 1.6): a zip archive whose `<name>/data.pkl` holds the object and
//!   `<name>/data/<key>` each storage's raw bytes.
//!
//! In both, the object's tensors pickle as `torch._utils._rebuild_tensor_v2(storage, offset,
//! size, stride, …)` calls whose storage is a persistent reference `('storage', <type>, key,
//! location, numel, …)`; [`TorchFile::tensor`] resolves them. Data is little-endian, as every
//! x86 and ARM machine writes it.

use crate::data::pickle::{PickleError, Value, unpickle, unpickle_prefix};
use anyhow::{Context, Result, bail, ensure};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// The legacy format's first pickle: protocol 2, `LONG1` of 10 bytes holding the magic number
/// 0x1950a86a20f9469cfc6c, `STOP`.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];

/// The legacy format's version, the second pickle.
const LEGACY_VERSION: i64 = 1001;

/// The largest storage read from a file: far above any network here, far below what a hostile
/// length field could ask for.
const MAX_STORAGE_BYTES: u64 = 1 << 30;

/// The element types of the storages PyTorch checkpoints of these networks hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TorchDtype {
    /// `torch.FloatStorage`.
    F32,
    /// `torch.DoubleStorage`.
    F64,
    /// `torch.LongStorage` (e.g. a batch norm's `num_batches_tracked`).
    I64,
}

impl TorchDtype {
    fn from_storage_type(v: &Value) -> Option<TorchDtype> {
        match v {
            Value::Global { module, name } if module == "torch" => match name.as_str() {
                "FloatStorage" => Some(TorchDtype::F32),
                "DoubleStorage" => Some(TorchDtype::F64),
                "LongStorage" => Some(TorchDtype::I64),
                _ => None,
            },
            _ => None,
        }
    }

    fn size(self) -> usize {
        match self {
            TorchDtype::F32 => 4,
            TorchDtype::F64 | TorchDtype::I64 => 8,
        }
    }
}

/// A tensor read from a PyTorch file, as f64 values in row-major order of `shape` (f32 and
/// int64 values below 2⁵³ are exact in f64).
#[derive(Debug, Clone, PartialEq)]
pub struct TorchTensor {
    /// The element type of its storage.
    pub dtype: TorchDtype,
    /// Its size.
    pub shape: Vec<usize>,
    /// Its values.
    pub values: Vec<f64>,
}

impl TorchTensor {
    /// The values as f32 (exact for a float tensor).
    pub fn to_f32(&self) -> Vec<f32> {
        self.values.iter().map(|&v| v as f32).collect()
    }
}

#[derive(Debug)]
struct Storage {
    dtype: TorchDtype,
    bytes: Vec<u8>,
}

/// A PyTorch file: its pickled object, and the storages its tensors refer to.
#[derive(Debug)]
pub struct TorchFile {
    /// The object `torch.save` was given, with tensors left as rebuild calls.
    pub root: Value,
    storages: HashMap<String, Storage>,
    name: String,
}

/// Whether `bytes` start like a PyTorch file of either format (a zip archive, or the legacy
/// magic number).
pub fn looks_like_torch_file(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(&LEGACY_MAGIC)
}

/// The parts of a persistent storage reference: key, element type, element count.
fn storage_reference(pid: &Value) -> Option<(String, TorchDtype, usize)> {
    let Value::Tuple(parts) = pid else {
        return None;
    };
    match parts.as_slice() {
        [kind, storage_type, key, _location, numel, ..] if kind.as_text()? == "storage" => {
            let Value::Int(numel) = numel else {
                return None;
            };
            Some((
                key.as_text()?,
                TorchDtype::from_storage_type(storage_type)?,
                usize::try_from(*numel).ok()?,
            ))
        }
        _ => None,
    }
}

/// Every persistent storage reference in `v`, depth first.
fn collect_references(v: &Value, out: &mut Vec<(String, TorchDtype, usize)>) -> Result<()> {
    match v {
        Value::Persistent(pid) => {
            let reference = storage_reference(pid)
                .context("a persistent reference that is not a storage of a known type")?;
            out.push(reference);
        }
        Value::Tuple(items) | Value::List(items) => {
            for item in items {
                collect_references(item, out)?;
            }
        }
        Value::Dict(entries) => {
            for (k, item) in entries {
                collect_references(k, out)?;
                collect_references(item, out)?;
            }
        }
        Value::Call {
            callable,
            args,
            state,
        } => {
            collect_references(callable, out)?;
            collect_references(args, out)?;
            if let Some(state) = state {
                collect_references(state, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn pickle_context(
    result: Result<(Value, usize), PickleError>,
    what: &str,
) -> Result<(Value, usize)> {
    result.with_context(|| format!("its {what} is not a readable pickle"))
}

impl TorchFile {
    /// Reads a `.pth` file of either format.
    pub fn read(path: &Path) -> Result<TorchFile> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
        let parsed = if bytes.starts_with(b"PK\x03\x04") {
            Self::parse_zip(&bytes)
        } else if bytes.starts_with(&LEGACY_MAGIC) {
            Self::parse_legacy(&bytes)
        } else {
            bail!("not a PyTorch file (neither a zip archive nor PyTorch's legacy magic number)")
        };
        let (root, storages) = parsed.with_context(|| format!("{name}: a PyTorch file"))?;
        Ok(TorchFile {
            root,
            storages,
            name,
        })
    }

    fn parse_legacy(bytes: &[u8]) -> Result<(Value, HashMap<String, Storage>)> {
        let mut at = LEGACY_MAGIC.len();
        let mut next = |what: &str| -> Result<Value> {
            let (value, used) = pickle_context(unpickle_prefix(&bytes[at..]), what)?;
            at += used;
            Ok(value)
        };
        let version = next("format version")?;
        ensure!(
            version == Value::Int(LEGACY_VERSION),
            "its format version is not {LEGACY_VERSION}, the one PyTorch's legacy files have"
        );
        next("system information")?;
        let root = next("object")?;
        let Value::List(keys) = next("list of storage keys")? else {
            bail!("the list of storage keys is not a list");
        };
        let mut references = Vec::new();
        collect_references(&root, &mut references)?;
        let types: HashMap<String, (TorchDtype, usize)> = references
            .into_iter()
            .map(|(key, dtype, numel)| (key, (dtype, numel)))
            .collect();
        let mut storages = HashMap::new();
        for key in keys {
            let key = key
                .as_text()
                .context("a storage key that is not a string")?;
            let &(dtype, _) = types
                .get(&key)
                .with_context(|| format!("storage {key} is listed but never used"))?;
            let header = bytes
                .get(at..at + 8)
                .with_context(|| format!("the file ends before storage {key}"))?;
            let numel = u64::from_le_bytes(header.try_into().expect("8 bytes"));
            let len = numel
                .checked_mul(dtype.size() as u64)
                .filter(|&n| n <= MAX_STORAGE_BYTES)
                .with_context(|| format!("storage {key} claims {numel} elements"))?
                as usize;
            let data = bytes
                .get(at + 8..at + 8 + len)
                .with_context(|| format!("the file ends inside storage {key}"))?;
            storages.insert(
                key,
                Storage {
                    dtype,
                    bytes: data.to_vec(),
                },
            );
            at += 8 + len;
        }
        Ok((root, storages))
    }

    fn parse_zip(bytes: &[u8]) -> Result<(Value, HashMap<String, Storage>)> {
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .context("an unreadable zip archive")?;
        let pickle_name = archive
            .file_names()
            .filter_map(|n| n.ok().map(|n| n.into_owned()))
            .find(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1)
            .context("the archive has no <name>/data.pkl")?;
        let prefix = pickle_name.trim_end_matches("data.pkl").to_string();
        let mut read_entry = |entry_name: &str| -> Result<Vec<u8>> {
            let entry = archive
                .by_name(entry_name)
                .with_context(|| format!("the archive has no {entry_name}"))?;
            let mut data = Vec::new();
            entry
                .take(MAX_STORAGE_BYTES + 1)
                .read_to_end(&mut data)
                .with_context(|| format!("{entry_name} is corrupt"))?;
            ensure!(
                data.len() as u64 <= MAX_STORAGE_BYTES,
                "{entry_name} is larger than 1 GiB"
            );
            Ok(data)
        };
        // Written since PyTorch 1.10 or so; older archives are little-endian by convention.
        let byteorder = format!("{prefix}byteorder");
        if let Ok(order) = read_entry(&byteorder) {
            ensure!(
                order == b"little",
                "{byteorder} says {:?}; only little-endian files are read",
                String::from_utf8_lossy(&order)
            );
        }
        let root = unpickle(&read_entry(&pickle_name)?)
            .with_context(|| format!("{pickle_name} is not a readable pickle"))?;
        let mut references = Vec::new();
        collect_references(&root, &mut references)?;
        let mut storages = HashMap::new();
        for (key, dtype, numel) in references {
            if storages.contains_key(&key) {
                continue;
            }
            let data = read_entry(&format!("{prefix}data/{key}"))?;
            ensure!(
                numel.checked_mul(dtype.size()) == Some(data.len()),
                "storage {key} holds {} bytes, not {numel} elements of {dtype:?}",
                data.len()
            );
            storages.insert(key, Storage { dtype, bytes: data });
        }
        Ok((root, storages))
    }

    /// The tensor a `_rebuild_tensor_v2` (or `_rebuild_parameter`) call describes, gathered
    /// from its storage by offset and strides.
    pub fn tensor(&self, v: &Value, what: &str) -> Result<TorchTensor> {
        let context = || format!("{}: {what}", self.name);
        let Value::Call { callable, args, .. } = v else {
            bail!("{}: not a tensor", context());
        };
        let Value::Tuple(args) = args.as_ref() else {
            bail!("{}: a call without an argument tuple", context());
        };
        let function = match callable.as_ref() {
            Value::Global { module, name } if module == "torch._utils" => name.as_str(),
            _ => bail!("{}: not a tensor", context()),
        };
        match (function, args.as_slice()) {
            ("_rebuild_parameter", [tensor, ..]) => self.tensor(tensor, what),
            ("_rebuild_tensor_v2", [storage, offset, size, stride, ..]) => self
                .gather(storage, offset, size, stride)
                .with_context(context),
            _ => bail!(
                "{}: an unsupported tensor form torch._utils.{function}",
                context()
            ),
        }
    }

    fn gather(
        &self,
        storage: &Value,
        offset: &Value,
        size: &Value,
        stride: &Value,
    ) -> Result<TorchTensor> {
        let Value::Persistent(pid) = storage else {
            bail!("the tensor's storage is not a persistent reference");
        };
        let (key, _, _) = storage_reference(pid).context("an unknown storage reference")?;
        let storage = self
            .storages
            .get(&key)
            .with_context(|| format!("storage {key} is missing from the file"))?;
        let sizes = |v: &Value, what: &str| -> Result<Vec<usize>> {
            let Value::Tuple(items) = v else {
                bail!("the tensor's {what} is not a tuple");
            };
            items
                .iter()
                .map(|i| match i {
                    Value::Int(n) => usize::try_from(*n).ok(),
                    _ => None,
                })
                .collect::<Option<Vec<usize>>>()
                .with_context(|| format!("the tensor's {what} holds a non-size"))
        };
        let shape = sizes(size, "size")?;
        let strides = sizes(stride, "stride")?;
        ensure!(
            shape.len() == strides.len(),
            "size {shape:?} and stride {strides:?} differ in rank"
        );
        let Value::Int(offset) = offset else {
            bail!("the tensor's storage offset is not an integer");
        };
        let offset = usize::try_from(*offset).context("a negative storage offset")?;
        let element = storage.dtype.size();
        let available = storage.bytes.len() / element;
        // The last element any index reaches: offset + Σ (size − 1)·stride.
        let count = shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .context("the tensor's size overflows")?;
        // A state dict's tensors never overlap themselves; a size far beyond the storage (stride
        // 0) would only ask for memory.
        ensure!(
            count <= available,
            "size {shape:?} has {count} elements, more than its storage's {available}"
        );
        if count > 0 {
            let last = shape
                .iter()
                .zip(&strides)
                .try_fold(offset, |acc, (&d, &s)| {
                    acc.checked_add((d - 1).checked_mul(s)?)
                });
            ensure!(
                last.is_some_and(|last| last < available),
                "size {shape:?}, stride {strides:?} at offset {offset} reach past the storage's \
                 {available} elements"
            );
        }
        let mut values = Vec::with_capacity(count);
        let mut index = vec![0usize; shape.len()];
        for _ in 0..count {
            let at = offset
                + index
                    .iter()
                    .zip(&strides)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
            let b = &storage.bytes[at * element..(at + 1) * element];
            values.push(match storage.dtype {
                TorchDtype::F32 => f64::from(f32::from_le_bytes(b.try_into().expect("4 bytes"))),
                TorchDtype::F64 => f64::from_le_bytes(b.try_into().expect("8 bytes")),
                TorchDtype::I64 => i64::from_le_bytes(b.try_into().expect("8 bytes")) as f64,
            });
            // Row-major increment of the multi-index.
            for d in (0..shape.len()).rev() {
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        Ok(TorchTensor {
            dtype: storage.dtype,
            shape,
            values,
        })
    }
}

/// The entry `key` of a dict value.
pub fn dict_entry<'v>(dict: &'v Value, key: &str) -> Option<&'v Value> {
    match dict {
        Value::Dict(entries) => entries
            .iter()
            .find(|(k, _)| k.as_text().as_deref() == Some(key))
            .map(|(_, v)| v),
        _ => None,
    }
}
