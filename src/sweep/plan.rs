//! What the runner needs of a grid of runs, whatever the benchmark: its cells in the order
//! they may run, where each stands on disk, and the command that brings one to completion.
//! LNTL's σ² grid ([`crate::sweep::grid::Grid`]) and LfF's ratio grid
//! ([`crate::sweep::lff_grid::LffGrid`]) implement it.

use crate::train::metrics_log::epoch_records;
use crate::train::result::{RESULT_FILE, shell_quote};
use crate::train::run::CHECKPOINT_FILE;
use crate::train::run_lock::live_holder;
use anyhow::Result;
use std::path::{Path, PathBuf};

/// Where a cell stands on disk.
#[derive(Debug, Clone, PartialEq)]
pub enum CellState {
    /// Its `result.json` exists.
    Finished,
    /// Another process holds its lock.
    Locked(String),
    /// It has a checkpoint after this many epochs, but no result.
    Interrupted(usize),
    /// Nothing has been trained.
    New,
}

/// Where the run directory `dir` stands: finished (a `result.json`), locked by a live process,
/// interrupted after the epochs `epochs_done` reads from its checkpoint, or new (no readable
/// checkpoint).
pub fn run_dir_state(dir: &Path, epochs_done: impl FnOnce(&Path) -> Result<usize>) -> CellState {
    if dir.join(RESULT_FILE).is_file() {
        return CellState::Finished;
    }
    if let Some(holder) = live_holder(dir) {
        return CellState::Locked(holder);
    }
    match epochs_done(&dir.join(CHECKPOINT_FILE)) {
        Ok(epochs) => CellState::Interrupted(epochs),
        Err(_) => CellState::New,
    }
}

/// The epochs the run directory `dir` has logged, and the accuracy `key` after the last of them.
pub fn run_dir_progress(dir: &Path, key: &str) -> (usize, Option<f64>) {
    let records = epoch_records(&dir.join("metrics.jsonl")).unwrap_or_default();
    let accuracy = records.last().and_then(|r| r[key].as_f64());
    (records.len(), accuracy)
}

/// A grid of runs the sweep runner can bring to completion.
pub trait SweepGrid {
    /// One run of the grid.
    type Cell: Copy + PartialEq + std::fmt::Debug;

    /// Every cell, each after the cells it depends on.
    fn cells_to_run(&self) -> Vec<Self::Cell>;
    /// A short label for progress lines.
    fn label(&self, cell: &Self::Cell) -> String;
    /// The cell's run directory.
    fn dir(&self, cell: &Self::Cell) -> PathBuf;
    /// Where the cell stands on disk.
    fn state(&self, cell: &Self::Cell) -> CellState;
    /// The command that brings the cell to completion, as words.
    fn command(&self, cell: &Self::Cell, exe: &Path, global: &[String]) -> Vec<String>;
    /// The cell's epochs.
    fn epochs(&self, cell: &Self::Cell) -> usize;
    /// The cell's compute relative to the grid's other cells (for the ETA).
    fn cost(&self, cell: &Self::Cell) -> f64;
    /// The epochs the cell has logged, and its test accuracy after the last of them.
    fn progress(&self, cell: &Self::Cell) -> (usize, Option<f64>);
    /// Whether a started cell was made with the grid's settings.
    fn check_settings(&self, cell: &Self::Cell) -> Result<()>;
    /// Whether a finished cell's result is this cell's.
    fn check_result(&self, cell: &Self::Cell) -> Result<()>;
    /// Checks, before anything runs, that every cell's dependencies can be met.
    fn check_dependencies(&self) -> Result<()> {
        Ok(())
    }
    /// The cell that must finish before this one starts, if any.
    fn dependency(&self, _cell: &Self::Cell) -> Option<Self::Cell> {
        None
    }
    /// Finished cells that must be trained again because a dependent cell needs their
    /// checkpoint.
    fn to_train_again(&self) -> Vec<Self::Cell> {
        Vec::new()
    }
    /// [`SweepGrid::command`] as one shell line.
    fn command_line(&self, cell: &Self::Cell, exe: &Path, global: &[String]) -> String {
        self.command(cell, exe, global)
            .iter()
            .map(|w| shell_quote(w))
            .collect::<Vec<_>>()
            .join(" ")
    }
}
