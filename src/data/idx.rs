//! The IDX format of MNIST's own files: a big-endian header (magic, dimension sizes), then
//! unsigned bytes. Magic `0x00000801` is a 1-D label file, `0x00000803` a 3-D image file.

use thiserror::Error;

/// Why bytes are not the IDX file we expect.
#[derive(Debug, Error, PartialEq)]
pub enum IdxError {
    /// Fewer bytes than the header needs.
    #[error("IDX file is too short for its header ({0} bytes)")]
    ShortHeader(usize),
    /// Unexpected magic number.
    #[error(
        "wrong IDX magic number 0x{got:08x} (expected 0x{want:08x}: unsigned bytes, {dims} dimensions)"
    )]
    Magic {
        /// Found.
        got: u32,
        /// Expected.
        want: u32,
        /// Expected number of dimensions.
        dims: usize,
    },
    /// Data length differs from the header's dimensions.
    #[error("IDX data has {got} bytes but the header declares {want}")]
    Length {
        /// Declared.
        want: usize,
        /// Present.
        got: usize,
    },
}

/// A decoded IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimension sizes.
    pub dims: Vec<usize>,
    /// Elements, row-major.
    pub data: Vec<u8>,
}

/// Parses an uncompressed IDX file of unsigned bytes with `dims` dimensions.
pub fn parse_idx(bytes: &[u8], dims: usize) -> Result<IdxArray, IdxError> {
    let header_len = 4 + 4 * dims;
    if bytes.len() < header_len {
        return Err(IdxError::ShortHeader(bytes.len()));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4"));
    let want_magic = 0x0800 | dims as u32;
    if word(0) != want_magic {
        return Err(IdxError::Magic {
            got: word(0),
            want: want_magic,
            dims,
        });
    }
    let sizes: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    let want = sizes
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .unwrap_or(usize::MAX);
    let got = bytes.len() - header_len;
    if got != want {
        return Err(IdxError::Length { want, got });
    }
    Ok(IdxArray {
        dims: sizes,
        data: bytes[header_len..].to_vec(),
    })
}

/// Encodes an IDX file of unsigned bytes (used by tests and tools to build small fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = (0x0800u32 | dims.len() as u32).to_be_bytes().to_vec();
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let bytes = encode_idx(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
        let a = parse_idx(&bytes, 3).unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.data[11], 11);
    }

    #[test]
    fn wrong_magic_and_length() {
        let labels = encode_idx(&[3], &[1, 2, 3]);
        assert!(matches!(
            parse_idx(&labels, 3),
            Err(IdxError::Magic { .. }) | Err(IdxError::ShortHeader(_))
        ));
        assert!(matches!(
            parse_idx(&labels[..9], 1),
            Err(IdxError::Length { want: 3, got: 1 })
        ));
        assert!(matches!(
            parse_idx(&labels[..3], 1),
            Err(IdxError::ShortHeader(3))
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64), dims in 1usize..4) {
            let _ = parse_idx(&bytes, dims);
        }
    }
}
