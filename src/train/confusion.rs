//! The confusion matrix of a run's final evaluation: `confusion.csv` (rows true digit, columns
//! predicted) and `confusion.png` (the same, drawn with labels, counts and the class colors).

use crate::data::mnist::CLASSES;
use crate::plot::confusion::write_confusion_png;
use crate::util::atomic::write_bytes_atomic;
use anyhow::{Context, Result, ensure};
use std::fmt::Write as _;
use std::path::Path;

/// `true\predicted,0,…,9` then one row per true class.
pub fn confusion_csv(confusion: &[Vec<u32>]) -> String {
    let mut out = String::from("true\\predicted");
    for k in 0..CLASSES {
        let _ = write!(out, ",{k}");
    }
    out.push('\n');
    for (k, row) in confusion.iter().enumerate() {
        let _ = write!(out, "{k}");
        for v in row {
            let _ = write!(out, ",{v}");
        }
        out.push('\n');
    }
    out
}

/// Writes `confusion.csv` and `confusion.png` (titled `title`) into `dir`.
pub fn write_confusion(confusion: &[Vec<u32>], dir: &Path, title: &str) -> Result<()> {
    write_bytes_atomic(
        &dir.join("confusion.csv"),
        confusion_csv(confusion).as_bytes(),
    )?;
    write_confusion_png(&dir.join("confusion.png"), confusion, title)
}

/// Reads a `confusion.csv` written by [`write_confusion`], checking its shape.
pub fn read_confusion_csv(path: &Path) -> Result<Vec<Vec<u32>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let rows: Vec<Vec<u32>> = text
        .lines()
        .skip(1)
        .map(|line| {
            line.split(',')
                .skip(1)
                .map(|v| v.trim().parse::<u32>())
                .collect::<Result<Vec<u32>, _>>()
        })
        .collect::<Result<_, _>>()
        .with_context(|| format!("{}: not a confusion matrix", path.display()))?;
    ensure!(
        rows.len() == CLASSES && rows.iter().all(|r| r.len() == CLASSES),
        "{}: not a {CLASSES}×{CLASSES} confusion matrix",
        path.display()
    );
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let matrix: Vec<Vec<u32>> = (0..CLASSES)
            .map(|t| (0..CLASSES).map(|p| (t * 10 + p) as u32).collect())
            .collect();
        let path = dir.path().join("confusion.csv");
        std::fs::write(&path, confusion_csv(&matrix)).unwrap();
        assert_eq!(read_confusion_csv(&path).unwrap(), matrix);
        std::fs::write(&path, "true\\predicted,0\n0,1\n").unwrap();
        assert!(read_confusion_csv(&path).is_err());
    }
}
