//! Runs a grid's cells on this machine, `jobs` at a time, each as its own `lntl train`
//! process (its output in the cell's `train.log`), every dependent cell after its baseline.
//! Progress: a line when a cell starts or ends, and a status line with the grid's ETA.

use crate::sweep::plan::{CellState, SweepGrid};
use crate::train::rerun;
use crate::train::result::{RESULT_FILE, RunResult, read_result};
use crate::util::interrupt::{self, Interrupted};
use anyhow::{Context, Result};
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds between status lines.
const STATUS_INTERVAL: Duration = Duration::from_secs(60);

/// How to run the cells.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Cells at once.
    pub jobs: usize,
    /// The `lntl` binary the cells run.
    pub exe: PathBuf,
    /// Global flags for every cell (`--threads`, `--cache-dir`).
    pub global: Vec<String>,
}

/// What a sweep did.
#[derive(Debug, Default)]
pub struct SweepOutcome {
    /// Cells finished before the sweep started.
    pub already_finished: usize,
    /// Cells this sweep finished.
    pub finished: usize,
    /// Cells that failed (their labels), with the reason.
    pub failed: Vec<(String, String)>,
}

struct Running<C> {
    cell: C,
    child: Child,
}

/// Work done in `cells` so far, in units of [`SweepGrid::cost`]: what a resume would keep, so
/// that a baseline trained again (its old log still on disk until it restarts) counts from zero.
fn work_done<G: SweepGrid>(grid: &G, cells: &[G::Cell]) -> f64 {
    cells
        .iter()
        .map(|c| {
            let epochs = grid.epochs(c);
            let done = match grid.state(c) {
                CellState::Finished => epochs,
                CellState::Interrupted(checkpointed) => checkpointed,
                // A running cell logs each epoch as it ends.
                CellState::Locked(_) => grid.progress(c).0,
                CellState::New => 0,
            };
            grid.cost(c) * done.min(epochs) as f64 / epochs as f64
        })
        .sum()
}

fn start<G: SweepGrid>(grid: &G, cell: &G::Cell, options: &SweepOptions) -> Result<Child> {
    let dir = grid.dir(cell);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_path = dir.join("train.log");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let words = grid.command(cell, &options.exe, &options.global);
    Command::new(&words[0])
        .args(&words[1..])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("cannot start {}", options.exe.display()))
}

/// Runs every unfinished cell of `grid`.
pub fn run_sweep<G: SweepGrid>(
    grid: &G,
    options: &SweepOptions,
    log: &dyn Fn(&str),
) -> Result<SweepOutcome> {
    grid.check_dependencies()?;
    let cells = grid.cells_to_run();
    // Every cell on disk is checked before anything is moved or started.
    for cell in &cells {
        grid.check_settings(cell)?;
        if grid.state(cell) == CellState::Finished {
            grid.check_result(cell)?;
        }
    }
    // Set aside before any cell starts, so that no dependent cell takes a baseline for ready
    // while it is being trained again.
    let mut previous_results: Vec<(G::Cell, RunResult)> = Vec::new();
    for base in grid.to_train_again() {
        previous_results.push((base, rerun::set_aside(&grid.dir(&base))?));
        log(&format!(
            "{} is finished but has no checkpoint, which the cells that warm-start from it \
             need: training it again (its result kept as {} until the rerun ends)",
            grid.label(&base),
            rerun::PREVIOUS_RESULT_FILE
        ));
    }
    let mut outcome = SweepOutcome::default();
    let mut pending = Vec::new();
    for cell in &cells {
        if grid.state(cell) == CellState::Finished {
            outcome.already_finished += 1;
        } else {
            pending.push(*cell);
        }
    }
    log(&format!(
        "sweep: {} cells, {} finished already, {} to run, {} at a time",
        cells.len(),
        outcome.already_finished,
        pending.len(),
        options.jobs
    ));
    let total_work: f64 = cells.iter().map(|c| grid.cost(c)).sum();
    let work_at_start = work_done(grid, &cells);
    let started = Instant::now();
    let mut last_status = Instant::now();
    let mut running: Vec<Running<G::Cell>> = Vec::new();
    loop {
        // Ctrl-C reached the cells too (one process group): each stops at its next batch,
        // keeping its last epoch's checkpoint.
        if interrupt::requested() {
            for r in &mut running {
                let _ = r.child.wait();
            }
            let stopped: Vec<String> = running.iter().map(|r| grid.label(&r.cell)).collect();
            return Err(Interrupted(format!(
                "sweep interrupted: {} cells finished in this sweep{}; resume with the same command",
                outcome.finished,
                if stopped.is_empty() {
                    String::new()
                } else {
                    format!(", {} kept at their last epoch", stopped.join(", "))
                }
            ))
            .into());
        }
        // Collect the cells that ended.
        let mut i = 0;
        while i < running.len() {
            let Some(status) = running[i].child.try_wait()? else {
                i += 1;
                continue;
            };
            let cell = running.swap_remove(i).cell;
            match grid.state(&cell) {
                CellState::Finished => {
                    outcome.finished += 1;
                    log(&format!("finished {}", grid.label(&cell)));
                    if let Some((_, previous)) = previous_results.iter().find(|(c, _)| *c == cell) {
                        let now = read_result(&grid.dir(&cell).join(RESULT_FILE))?;
                        log(&format!(
                            "{}: {}",
                            grid.label(&cell),
                            rerun::verdict(previous, &now)
                        ));
                    }
                }
                // Another sweep took the cell between our look and our start: it is theirs.
                CellState::Locked(holder) => {
                    log(&format!("{} is being run by {holder}", grid.label(&cell)));
                    pending.push(cell);
                }
                _ => {
                    let reason = format!(
                        "exited with {status}; see {}",
                        grid.dir(&cell).join("train.log").display()
                    );
                    log(&format!("FAILED {}: {reason}", grid.label(&cell)));
                    outcome.failed.push((grid.label(&cell), reason));
                }
            }
        }
        // A dependent cell whose dependency failed cannot run.
        pending.retain(|cell| {
            let failed_base = grid
                .dependency(cell)
                .filter(|b| outcome.failed.iter().any(|(f, _)| *f == grid.label(b)));
            if let Some(base) = failed_base {
                outcome.failed.push((
                    grid.label(cell),
                    format!("its baseline {} failed", grid.label(&base)),
                ));
                return false;
            }
            true
        });
        // Start cells that are ready, in order, while there are free jobs.
        while running.len() < options.jobs {
            let ready = pending.iter().position(|cell| {
                let state = grid.state(cell);
                let base_ready = grid
                    .dependency(cell)
                    .is_none_or(|b| grid.state(&b) == CellState::Finished);
                matches!(
                    state,
                    CellState::New | CellState::Interrupted(_) | CellState::Finished
                ) && base_ready
            });
            let Some(index) = ready else { break };
            let cell = pending.remove(index);
            match grid.state(&cell) {
                CellState::Finished => {
                    grid.check_result(&cell)?;
                    log(&format!("{} was finished elsewhere", grid.label(&cell)));
                }
                state => {
                    let how = match state {
                        CellState::Interrupted(epochs) => format!("resuming after epoch {epochs}"),
                        _ => "starting".to_string(),
                    };
                    log(&format!("{how}: {}", grid.label(&cell)));
                    let child = start(grid, &cell, options)?;
                    running.push(Running { cell, child });
                }
            }
        }
        if pending.is_empty() && running.is_empty() {
            break;
        }
        if last_status.elapsed() >= STATUS_INTERVAL {
            last_status = Instant::now();
            log(&status_line(
                grid,
                &cells,
                &running,
                total_work,
                work_at_start,
                started,
            ));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(outcome)
}

/// `[12/28 done] running: lntl σ²=0.020 seed 0 (epoch 31/100, test accuracy 0.8123), …; ETA 2 h
/// 05 min`.
fn status_line<G: SweepGrid>(
    grid: &G,
    cells: &[G::Cell],
    running: &[Running<G::Cell>],
    total_work: f64,
    work_at_start: f64,
    started: Instant,
) -> String {
    let finished = cells
        .iter()
        .filter(|c| grid.state(c) == CellState::Finished)
        .count();
    let now: Vec<String> = running
        .iter()
        .map(|r| {
            let (epochs, accuracy) = grid.progress(&r.cell);
            let accuracy = accuracy.map_or(String::new(), |a| format!(", test accuracy {a:.4}"));
            format!(
                "{} (epoch {epochs}/{}{accuracy})",
                grid.label(&r.cell),
                grid.epochs(&r.cell)
            )
        })
        .collect();
    let done = work_done(grid, cells);
    let rate = (done - work_at_start) / started.elapsed().as_secs_f64().max(1.0);
    let eta = if rate > 0.0 {
        let seconds = ((total_work - done) / rate) as u64;
        format!("{} h {:02} min", seconds / 3600, seconds % 3600 / 60)
    } else {
        "unknown yet".to_string()
    };
    format!(
        "[{finished}/{} done] running: {}; grid ETA {eta}",
        cells.len(),
        if now.is_empty() {
            "none".to_string()
        } else {
            now.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::grid::{Grid, Stage};
    use crate::train::config::Method;
    use crate::train::protocol::Protocol;
    use crate::train::run_lock::RunLock;

    /// A cell counts the epochs a resume would keep: a baseline set aside to be trained again
    /// counts nothing until it runs, although its old log is still on disk.
    #[test]
    fn work_done_counts_what_a_resume_keeps() {
        let out = tempfile::tempdir().unwrap();
        let grid = Grid {
            protocol: Protocol::Smoke,
            out: out.path().to_path_buf(),
            variances: vec![0.02],
            methods: vec![Method::Baseline],
            seeds: vec![0],
            validation: false,
        };
        let cells = grid.cells(Stage::All);
        let dir = grid.dir(&cells[0]);
        std::fs::create_dir_all(&dir).unwrap();
        let epochs = grid.epochs(&cells[0]);
        let log: String = (1..=epochs)
            .map(|e| format!("{{\"epoch\":{e},\"test_accuracy\":0.5}}\n"))
            .collect();
        std::fs::write(dir.join("metrics.jsonl"), log).unwrap();
        assert_eq!(work_done(&grid, &cells), 0.0, "set aside, not running");
        let lock = RunLock::acquire(&dir).unwrap();
        assert_eq!(work_done(&grid, &cells), grid.cost(&cells[0]), "running");
        drop(lock);
        std::fs::write(dir.join(RESULT_FILE), "{}").unwrap();
        assert_eq!(work_done(&grid, &cells), grid.cost(&cells[0]), "finished");
    }
}
