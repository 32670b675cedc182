//! `metrics.jsonl`: one JSON object per line, one line per epoch, all of one shape (the final
//! evaluation is `evaluation.json`; logs written before that change end with a `final` record,
//! which readers skip).

use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An append-only JSON-lines log.
#[derive(Debug)]
pub struct MetricsLog {
    file: File,
    path: PathBuf,
}

impl MetricsLog {
    /// Opens (creating or appending to) `path`.
    pub fn open(path: &Path) -> Result<MetricsLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| format!("{}: cannot open for writing", path.display()))?;
        Ok(MetricsLog {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Opens `path` for a run resumed after `epochs_done` epochs: records of later epochs (which
    /// an interrupted run logged after its last checkpoint) and final records are dropped first,
    /// so that every epoch appears once.
    pub fn resume(path: &Path, epochs_done: usize) -> Result<MetricsLog> {
        let kept: Vec<serde_json::Value> = epoch_records(path)?
            .into_iter()
            .filter(|r| record_epoch(r).is_some_and(|e| e <= epochs_done))
            .collect();
        let text: String = kept.iter().map(|r| format!("{r}\n")).collect();
        write_bytes_atomic(path, text.as_bytes())?;
        MetricsLog::open(path)
    }

    /// Appends one record and flushes it.
    pub fn write(&mut self, record: &serde_json::Value) -> Result<()> {
        // One write per line, so that a killed process leaves at most a torn last line.
        self.file
            .write_all(format!("{record}\n").as_bytes())
            .with_context(|| format!("{}: write failed", self.path.display()))?;
        self.file
            .flush()
            .with_context(|| format!("{}: write failed", self.path.display()))
    }
}

/// The epoch a record belongs to (`None` for the final evaluation).
fn record_epoch(record: &serde_json::Value) -> Option<usize> {
    record.get("epoch")?.as_u64().map(|e| e as usize)
}

/// The per-epoch records of the log at `path`, in order (none if it does not exist).
pub fn epoch_records(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot read", path.display())),
    };
    // A last line without its newline is a write that a kill interrupted: it never happened.
    let complete = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    let mut records = Vec::new();
    for (i, line) in complete.lines().enumerate() {
        let record: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}: line {} is not JSON", path.display(), i + 1))?;
        if record_epoch(&record).is_some() {
            records.push(record);
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resume_drops_epochs_after_the_checkpoint_and_final_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        let mut log = MetricsLog::open(&path).unwrap();
        for epoch in 1..=3 {
            log.write(&json!({ "epoch": epoch })).unwrap();
        }
        log.write(&json!({ "final": {} })).unwrap();
        drop(log);
        let mut log = MetricsLog::resume(&path, 2).unwrap();
        log.write(&json!({ "epoch": 3, "again": true })).unwrap();
        let epochs: Vec<_> = epoch_records(&path).unwrap();
        assert_eq!(epochs.len(), 3);
        assert_eq!(epochs[2], json!({ "epoch": 3, "again": true }));
        assert!(!std::fs::read_to_string(&path).unwrap().contains("final"));
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_broken_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(&path, "{\"epoch\":1}\n{\"epoch\":2,\"te").unwrap();
        assert_eq!(epoch_records(&path).unwrap().len(), 1);
        MetricsLog::resume(&path, 1).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"epoch\":1}\n");
        std::fs::write(&path, "{\"epoch\":1}\n{oops\n{\"epoch\":2}\n").unwrap();
        assert!(epoch_records(&path).is_err());
    }
}
