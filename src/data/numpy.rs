//! numpy arrays as they appear inside pickles, and the `.npy` container.
//!
//! A pickled ndarray is `_reconstruct(ndarray, (0,), b'b')` followed by `BUILD` with the state
//! `(version, shape, dtype, is_fortran, data)`; a dtype is `dtype(descr, False, True)` with the
//! state `(3, byteorder, …)`. An object array's data is a list of Python objects instead of bytes.
//! `npyz` reads `.npy` files but not object arrays, which is what the authors' files are, so the
//! small header parser lives here too.

use crate::data::pickle::Value;
use std::rc::Rc;
use thiserror::Error;

/// Why a pickled value or `.npy` file is not the array we expect.
#[derive(Debug, Error, PartialEq)]
pub enum NumpyError {
    /// The value is not a pickled numpy array.
    #[error("not a numpy array: {0}")]
    NotAnArray(&'static str),
    /// The dtype is one this reader does not handle.
    #[error("unsupported dtype '{0}'")]
    UnsupportedDtype(String),
    /// The data length does not match shape × item size.
    #[error("array data has {got} bytes, but shape {shape:?} of '{dtype}' needs {want}")]
    DataLength {
        /// Declared shape.
        shape: Vec<usize>,
        /// dtype descriptor.
        dtype: String,
        /// Bytes needed.
        want: usize,
        /// Bytes present.
        got: usize,
    },
    /// The `.npy` header is malformed.
    #[error("bad .npy header: {0}")]
    BadHeader(String),
}

/// The element types this project reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `u1`
    U8,
    /// `i1`
    I8,
    /// `<i8`
    I64,
    /// `<f4`
    F32,
    /// `O`: Python objects.
    Object,
}

impl Dtype {
    /// Parses a numpy type string such as `u1`, `<f4`, `|O`, `i8`.
    pub fn parse(descr: &str, byteorder: &str) -> Result<Dtype, NumpyError> {
        let body = descr.trim_start_matches(['<', '|', '=', '>']);
        let order = descr.chars().next().filter(|c| "<>|=".contains(*c));
        let big_endian = order == Some('>') || byteorder == ">";
        let dtype = match body {
            "u1" | "B" => Dtype::U8,
            "i1" | "b" => Dtype::I8,
            "i8" | "l" => Dtype::I64,
            "f4" | "f" => Dtype::F32,
            "O" | "O8" => Dtype::Object,
            _ => return Err(NumpyError::UnsupportedDtype(descr.to_string())),
        };
        if big_endian && matches!(dtype, Dtype::I64 | Dtype::F32) {
            return Err(NumpyError::UnsupportedDtype(format!(
                "{descr} (big-endian)"
            )));
        }
        Ok(dtype)
    }

    /// Bytes per element (object arrays have none).
    pub fn item_size(self) -> usize {
        match self {
            Dtype::U8 | Dtype::I8 => 1,
            Dtype::I64 => 8,
            Dtype::F32 => 4,
            Dtype::Object => 0,
        }
    }

    /// numpy's name for the type, without byte order.
    pub fn name(self) -> &'static str {
        match self {
            Dtype::U8 => "u1",
            Dtype::I8 => "i1",
            Dtype::I64 => "i8",
            Dtype::F32 => "f4",
            Dtype::Object => "O",
        }
    }
}

/// A decoded numpy array.
#[derive(Debug, Clone, PartialEq)]
pub struct NdArray {
    /// Dimensions, C order.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: Dtype,
    /// Little-endian element bytes (empty for object arrays).
    pub data: Vec<u8>,
    /// Elements of an object array (empty otherwise).
    pub objects: Vec<Value>,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as bytes, for `u1` arrays and for `i1` arrays without negative values.
    pub fn to_u8(&self) -> Result<Vec<u8>, NumpyError> {
        match self.dtype {
            Dtype::U8 => Ok(self.data.clone()),
            Dtype::I8 | Dtype::I64 => self
                .to_i64()?
                .into_iter()
                .map(|v| u8::try_from(v).map_err(|_| NumpyError::NotAnArray("value out of 0..255")))
                .collect(),
            _ => Err(NumpyError::UnsupportedDtype(self.dtype.name().into())),
        }
    }

    /// The elements as i64, for integer arrays.
    pub fn to_i64(&self) -> Result<Vec<i64>, NumpyError> {
        match self.dtype {
            Dtype::U8 => Ok(self.data.iter().map(|&b| i64::from(b)).collect()),
            Dtype::I8 => Ok(self.data.iter().map(|&b| i64::from(b as i8)).collect()),
            Dtype::I64 => Ok(self
                .data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect()),
            _ => Err(NumpyError::UnsupportedDtype(self.dtype.name().into())),
        }
    }

    /// The elements as f32, for `f4` arrays.
    pub fn to_f32(&self) -> Result<Vec<f32>, NumpyError> {
        match self.dtype {
            Dtype::F32 => Ok(self
                .data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect()),
            _ => Err(NumpyError::UnsupportedDtype(self.dtype.name().into())),
        }
    }

    /// A plain-data array of `dtype` (not `Object`).
    pub fn new(shape: Vec<usize>, dtype: Dtype, data: Vec<u8>) -> NdArray {
        debug_assert_eq!(
            shape.iter().product::<usize>() * dtype.item_size(),
            data.len()
        );
        NdArray {
            shape,
            dtype,
            data,
            objects: Vec::new(),
        }
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

fn is_global(v: &Value, modules: &[&str], wanted: &str) -> bool {
    matches!(v, Value::Global { module, name } if modules.contains(&module.as_str()) && name == wanted)
}

const MULTIARRAY_MODULES: [&str; 2] = ["numpy.core.multiarray", "numpy._core.multiarray"];

fn dtype_from_value(v: &Value) -> Result<Dtype, NumpyError> {
    let Value::Call {
        callable,
        args,
        state,
    } = v
    else {
        return Err(NumpyError::NotAnArray("dtype is not a dtype(...) call"));
    };
    if !is_global(callable, &["numpy"], "dtype") {
        return Err(NumpyError::NotAnArray("dtype is not numpy.dtype"));
    }
    let Value::Tuple(args) = args.as_ref() else {
        return Err(NumpyError::NotAnArray("dtype arguments are not a tuple"));
    };
    let descr = args
        .first()
        .and_then(Value::as_text)
        .ok_or(NumpyError::NotAnArray("dtype without a type string"))?;
    let byteorder = match state.as_deref() {
        Some(Value::Tuple(s)) => s.get(1).and_then(Value::as_text).unwrap_or_default(),
        _ => String::new(),
    };
    Dtype::parse(&descr, &byteorder)
}

/// Interprets a pickled value as a numpy array.
pub fn ndarray_from_value(v: &Value) -> Result<NdArray, NumpyError> {
    let Value::Call {
        callable, state, ..
    } = v
    else {
        return Err(NumpyError::NotAnArray("expected a reconstructed ndarray"));
    };
    if !is_global(callable, &MULTIARRAY_MODULES, "_reconstruct") {
        return Err(NumpyError::NotAnArray("expected numpy _reconstruct"));
    }
    let Some(Value::Tuple(state)) = state.as_deref() else {
        return Err(NumpyError::NotAnArray("ndarray without state"));
    };
    let [_version, Value::Tuple(shape), dtype, fortran, data] = state.as_slice() else {
        return Err(NumpyError::NotAnArray("ndarray state is not a 5-tuple"));
    };
    let shape = shape
        .iter()
        .map(|d| int(d).and_then(|d| usize::try_from(d).ok()))
        .collect::<Option<Vec<usize>>>()
        .ok_or(NumpyError::NotAnArray("shape is not a tuple of sizes"))?;
    let dtype = dtype_from_value(dtype)?;
    if *fortran == Value::Bool(true) && shape.len() > 1 {
        return Err(NumpyError::NotAnArray(
            "Fortran-ordered arrays are not supported",
        ));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or(NumpyError::NotAnArray("shape overflows"))?;
    if dtype == Dtype::Object {
        let Value::List(objects) = data else {
            return Err(NumpyError::NotAnArray("object array data is not a list"));
        };
        if objects.len() != count {
            return Err(NumpyError::NotAnArray(
                "object array has the wrong element count",
            ));
        }
        return Ok(NdArray {
            shape,
            dtype,
            data: Vec::new(),
            objects: objects.clone(),
        });
    }
    let bytes = data
        .as_bytes()
        .ok_or(NumpyError::NotAnArray("array data is not a byte string"))?;
    let want = count * dtype.item_size();
    if bytes.len() != want {
        return Err(NumpyError::DataLength {
            shape,
            dtype: dtype.name().into(),
            want,
            got: bytes.len(),
        });
    }
    Ok(NdArray::new(shape, dtype, bytes))
}

fn global(module: &str, name: &str) -> Value {
    Value::Global {
        module: module.into(),
        name: name.into(),
    }
}

fn dtype_value(dtype: Dtype) -> Value {
    let (descr, order, flags) = match dtype {
        Dtype::U8 => ("u1", "|", 0),
        Dtype::I8 => ("i1", "|", 0),
        Dtype::I64 => ("i8", "<", 0),
        Dtype::F32 => ("f4", "<", 0),
        Dtype::Object => ("O8", "|", 63),
    };
    Value::Call {
        callable: Box::new(global("numpy", "dtype")),
        args: Box::new(Value::Tuple(vec![
            Value::Str(descr.into()),
            Value::Bool(false),
            Value::Bool(true),
        ])),
        state: Some(Box::new(Value::Tuple(vec![
            Value::Int(3),
            Value::Str(order.into()),
            Value::None,
            Value::None,
            Value::None,
            Value::Int(-1),
            Value::Int(-1),
            Value::Int(flags),
        ]))),
    }
}

/// The pickled form of `array`, as numpy itself writes it (with the `numpy.core` module path
/// that both numpy 1.x and 2.x resolve).
pub fn ndarray_to_value(array: &NdArray) -> Value {
    let data = if array.dtype == Dtype::Object {
        Value::List(array.objects.clone())
    } else {
        Value::Bytes(Rc::new(array.data.clone()))
    };
    Value::Call {
        callable: Box::new(global("numpy.core.multiarray", "_reconstruct")),
        args: Box::new(Value::Tuple(vec![
            global("numpy", "ndarray"),
            Value::Tuple(vec![Value::Int(0)]),
            Value::Bytes(Rc::new(b"b".to_vec())),
        ])),
        state: Some(Box::new(Value::Tuple(vec![
            Value::Int(1),
            Value::Tuple(array.shape.iter().map(|&d| Value::Int(d as i64)).collect()),
            dtype_value(array.dtype),
            Value::Bool(false),
            data,
        ]))),
    }
}

/// The parsed header of a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    /// `descr`, e.g. `|O` or `<f4`.
    pub descr: String,
    /// `fortran_order`.
    pub fortran_order: bool,
    /// `shape`.
    pub shape: Vec<usize>,
    /// Offset of the data (or pickle) after the header.
    pub data_offset: usize,
}

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

fn header_field<'h>(header: &'h str, key: &str) -> Result<&'h str, NumpyError> {
    let pattern = format!("'{key}':");
    let start = header
        .find(&pattern)
        .ok_or_else(|| NumpyError::BadHeader(format!("no '{key}' entry")))?
        + pattern.len();
    Ok(header[start..].trim_start())
}

/// Parses the header of a `.npy` file (format versions 1–3).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, NumpyError> {
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(NumpyError::BadHeader(
            "missing the \\x93NUMPY magic (not a .npy file)".into(),
        ));
    }
    let (len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize,
            12,
        ),
        v => return Err(NumpyError::BadHeader(format!("unknown format version {v}"))),
    };
    let end = start + len;
    let header = bytes
        .get(start..end)
        .ok_or_else(|| NumpyError::BadHeader("file ends inside the header".into()))?;
    let header = std::str::from_utf8(header)
        .map_err(|_| NumpyError::BadHeader("header is not text".into()))?;
    let descr = header_field(header, "descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or_else(|| NumpyError::BadHeader("descr is not a string".into()))?
        .to_string();
    let fortran_order = header_field(header, "fortran_order")?.starts_with("True");
    let shape_text = header_field(header, "shape")?;
    let shape_text = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| NumpyError::BadHeader("shape is not a tuple".into()))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| NumpyError::BadHeader(format!("bad shape ({shape_text})")))?;
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
        data_offset: end,
    })
}

/// A version-1.0 `.npy` header for `descr` and `shape`, padded so the data starts 64-byte aligned.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let shape_text = match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = NPY_MAGIC.len() + 4 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = NPY_MAGIC.to_vec();
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(
        &u16::try_from(dict.len())
            .expect("short header")
            .to_le_bytes(),
    );
    out.extend_from_slice(dict.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::pickle::{pickle, unpickle};

    #[test]
    fn ndarray_round_trips_through_pickle() {
        let a = NdArray::new(vec![2, 3], Dtype::U8, vec![1, 2, 3, 4, 5, 255]);
        let back = ndarray_from_value(&unpickle(&pickle(&ndarray_to_value(&a))).unwrap()).unwrap();
        assert_eq!(back, a);
        let f = NdArray::new(vec![1], Dtype::F32, 0.5f32.to_le_bytes().to_vec());
        let back = ndarray_from_value(&ndarray_to_value(&f)).unwrap();
        assert_eq!(back.to_f32().unwrap(), vec![0.5]);
    }

    #[test]
    fn data_length_mismatch_is_reported() {
        let mut a = NdArray::new(vec![2], Dtype::U8, vec![1, 2]);
        a.shape = vec![3];
        let err = ndarray_from_value(&ndarray_to_value(&a)).unwrap_err();
        assert!(
            matches!(
                err,
                NumpyError::DataLength {
                    want: 3,
                    got: 2,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn signed_bytes_and_range_checks() {
        let a = NdArray::new(vec![2], Dtype::I8, vec![5, 0xff]);
        assert_eq!(a.to_i64().unwrap(), vec![5, -1]);
        assert!(a.to_u8().is_err());
    }

    #[test]
    fn header_round_trip_and_alignment() {
        let h = npy_header("|O", &[]);
        assert_eq!(h.len() % 64, 0);
        let parsed = parse_npy_header(&h).unwrap();
        assert_eq!(parsed.descr, "|O");
        assert_eq!(parsed.shape, Vec::<usize>::new());
        assert_eq!(parsed.data_offset, h.len());
        let parsed = parse_npy_header(&npy_header("<f4", &[60000, 28, 28, 3])).unwrap();
        assert_eq!(parsed.shape, vec![60000, 28, 28, 3]);
        assert!(!parsed.fortran_order);
    }

    proptest::proptest! {
        #[test]
        fn random_headers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let mut with_magic = NPY_MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = parse_npy_header(&bytes);
            let _ = parse_npy_header(&with_magic);
        }
    }

    #[test]
    fn bad_headers_are_errors() {
        assert!(parse_npy_header(b"PK\x03\x04").is_err());
        let mut h = npy_header("|O", &[]);
        h.truncate(20);
        assert!(parse_npy_header(&h).is_err());
    }
}
