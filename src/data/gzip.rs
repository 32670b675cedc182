//! Transparent gzip decoding for files that may or may not be compressed.

use anyhow::{Context, Result, ensure};
use std::io::Read;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most a gzip stream may expand to, per compressed byte (plus [`EXPANSION_BASE`]). The
/// files we read expand 5–13×; deflate allows up to 1032×, which a hostile file would use to
/// exhaust memory.
const MAX_EXPANSION: u64 = 100;

/// Bytes any gzip stream may expand to.
const EXPANSION_BASE: u64 = 16 << 20;

/// Returns `bytes` decompressed if they start with the gzip magic, unchanged otherwise.
/// A corrupt or truncated gzip stream is an error, and so is one that expands beyond
/// `MAX_EXPANSION` times its size.
pub fn maybe_gunzip(bytes: Vec<u8>) -> Result<Vec<u8>> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(bytes);
    }
    let limit = EXPANSION_BASE + MAX_EXPANSION * bytes.len() as u64;
    let mut out = Vec::with_capacity(bytes.len() * 4);
    flate2::read::GzDecoder::new(bytes.as_slice())
        .take(limit + 1)
        .read_to_end(&mut out)
        .context("corrupt or truncated gzip data")?;
    ensure!(
        out.len() as u64 <= limit,
        "gzip data expands more than {MAX_EXPANSION}× its size: refused as a decompression bomb"
    );
    Ok(out)
}

/// `data` gzip-compressed, for tests of the readers that accept either form.
#[cfg(test)]
pub(crate) fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

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

    #[test]
    fn decompression_bombs_are_refused() {
        // 64 MiB of zeros compress to about 64 KB at the best level, a 1000× expansion.
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![0u8; 64 << 20]).unwrap();
        let bomb = e.finish().unwrap();
        assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
        match maybe_gunzip(bomb) {
            Ok(out) => panic!("a {} byte expansion was accepted", out.len()),
            Err(err) => assert!(format!("{err:#}").contains("decompression bomb"), "{err:#}"),
        }
    }
}
