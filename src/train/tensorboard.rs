//! A TensorBoard event file writer for scalars.
//!
//! Why hand-written: the crates.io TensorBoard writers pull in a protobuf toolchain or are
//! unmaintained, and scalars need only a few bytes of protobuf. The format: a sequence of
//! records `len: u64 LE, masked_crc32c(len), data, masked_crc32c(data)`, where data is an
//! `Event` message: `wall_time` (field 1, double), `step` (field 2, varint), `file_version`
//! (field 3, string) or `summary` (field 5: `Summary { value (1): { tag (1), simple_value (2,
//! float) } }`).

use anyhow::{Context, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

fn masked_crc(data: &[u8]) -> u32 {
    let crc = crc32c::crc32c(data);
    (crc.rotate_right(15)).wrapping_add(0xa282_ead8)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u64, wire_type: u64) {
    varint(out, (field << 3) | wire_type);
}

fn bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    key(out, field, 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn wall_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes scalar summaries to `events.out.tfevents.*` in a log directory.
#[derive(Debug)]
pub struct EventWriter {
    file: File,
    path: PathBuf,
}

impl EventWriter {
    /// Creates a new event file in `dir`.
    pub fn create(dir: &Path) -> Result<EventWriter> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = dir.join(format!("events.out.tfevents.{}.lntl", now / 1_000_000_000));
        let file =
            File::create(&path).with_context(|| format!("{}: cannot create", path.display()))?;
        let mut writer = EventWriter { file, path };
        let mut event = Vec::new();
        key(&mut event, 1, 1);
        event.extend_from_slice(&wall_time().to_le_bytes());
        bytes_field(&mut event, 3, b"brain.Event:2");
        writer.record(&event)?;
        Ok(writer)
    }

    fn record(&mut self, data: &[u8]) -> Result<()> {
        let len = (data.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(data.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked_crc(&len).to_le_bytes());
        buf.extend_from_slice(data);
        buf.extend_from_slice(&masked_crc(data).to_le_bytes());
        self.file
            .write_all(&buf)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("{}: write failed", self.path.display()))
    }

    /// Logs `value` under `tag` at `step`.
    pub fn scalar(&mut self, tag: &str, step: u64, value: f32) -> Result<()> {
        let mut value_msg = Vec::new();
        bytes_field(&mut value_msg, 1, tag.as_bytes());
        key(&mut value_msg, 2, 5);
        value_msg.extend_from_slice(&value.to_le_bytes());
        let mut summary = Vec::new();
        bytes_field(&mut summary, 1, &value_msg);
        let mut event = Vec::new();
        key(&mut event, 1, 1);
        event.extend_from_slice(&wall_time().to_le_bytes());
        key(&mut event, 2, 0);
        varint(&mut event, step);
        bytes_field(&mut event, 5, &summary);
        self.record(&event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_and_masking_match_tensorflow() {
        // crc32c("123456789") is the standard check value 0xe3069283. The masked values are
        // TensorBoard's own `masked_crc32c` (tensorboard 2.x, compat/tensorflow_stub), run by
        // hand on the same bytes.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b"123456789"), 0xc78a_b0e5);
        assert_eq!(masked_crc(&42u64.to_le_bytes()), 0xf591_8dae);
    }

    #[test]
    fn records_are_framed_and_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalar("test/accuracy", 3, 0.5).unwrap();
        let bytes = std::fs::read(&w.path).unwrap();
        let mut at = 0;
        let mut records = 0;
        while at < bytes.len() {
            let len = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap()) as usize;
            let len_crc = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            assert_eq!(len_crc, masked_crc(&bytes[at..at + 8]));
            let data = &bytes[at + 12..at + 12 + len];
            let data_crc =
                u32::from_le_bytes(bytes[at + 12 + len..at + 16 + len].try_into().unwrap());
            assert_eq!(data_crc, masked_crc(data));
            at += 16 + len;
            records += 1;
        }
        assert_eq!(records, 2);
        assert!(bytes.windows(13).any(|w| w == b"test/accuracy"));
    }
}
