//! The confusion matrix of a run's final evaluation: `confusion.csv` (rows true digit, columns
//! predicted) and `confusion.png` (the same, drawn with labels, counts and the class colors).

use crate::data::mnist::CLASSES;
use crate::plot::confusion::write_confusion_png;
use crate::util::atomic::write_bytes_atomic;
use anyhow::Result;
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
