//! Transparent gzip decoding for files that may or may not be compressed.

use anyhow::{Context, Result};
use std::io::Read;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Returns `bytes` decompressed if they start with the gzip magic, unchanged otherwise.
/// A corrupt or truncated gzip stream is an error.
pub fn maybe_gunzip(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut out)
        .context("corrupt or truncated gzip data")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_and_compressed() {
        assert_eq!(maybe_gunzip(b"plain".to_vec()).unwrap(), b"plain");
        assert_eq!(maybe_gunzip(gz(b"packed")).unwrap(), b"packed");
    }

    #[test]
    fn truncated_stream_is_an_error() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7919 % 251) as u8).collect();
        let packed = gz(&data);
        for cut in [3, packed.len() / 2, packed.len() - 4] {
            assert!(maybe_gunzip(packed[..cut].to_vec()).is_err(), "cut {cut}");
        }
    }
}
