//! Training a finished run again from scratch, as a baseline must be when runs warm-start from
//! its checkpoint and the checkpoint is gone (checkpoints are never committed): its result is
//! set aside, and when the rerun finishes the two test accuracies are compared (on the same
//! thread count a rerun reproduces them exactly) and the old result is removed.

use crate::train::result::{RESULT_FILE, RunResult, read_result};
use anyhow::{Context, Result};
use std::path::Path;

/// Where a finished run's result is kept while the run is trained again.
pub const PREVIOUS_RESULT_FILE: &str = "result.previous.json";

/// Moves the finished run's result aside, so that the run starts again; returns that result.
pub fn set_aside(run_dir: &Path) -> Result<RunResult> {
    let result = run_dir.join(RESULT_FILE);
    let previous = read_result(&result)?;
    std::fs::rename(&result, run_dir.join(PREVIOUS_RESULT_FILE))
        .with_context(|| format!("cannot move {} aside", result.display()))?;
    Ok(previous)
}

/// How a rerun's test accuracy compares with the previous run's, as one line.
pub fn verdict(previous: &RunResult, now: &RunResult) -> String {
    let how = if now.test_accuracy == previous.test_accuracy {
        "reproduced exactly".to_string()
    } else {
        format!(
            "differs by {:+.4} (threads {} now, {} before)",
            now.test_accuracy - previous.test_accuracy,
            now.threads,
            previous.threads
        )
    };
    format!(
        "test accuracy {:.4} against {:.4} before: {how}",
        now.test_accuracy, previous.test_accuracy
    )
}

/// After a run finished: if it was a rerun (a previous result is set aside), its
/// [`verdict`], and the previous result removed.
pub fn finish(run_dir: &Path) -> Result<Option<String>> {
    let previous_path = run_dir.join(PREVIOUS_RESULT_FILE);
    if !previous_path.is_file() {
        return Ok(None);
    }
    let previous = read_result(&previous_path)?;
    let now = read_result(&run_dir.join(RESULT_FILE))?;
    std::fs::remove_file(&previous_path)
        .with_context(|| format!("cannot remove {}", previous_path.display()))?;
    Ok(Some(verdict(&previous, &now)))
}
