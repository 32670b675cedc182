//! The grid of a sweep: σ² × method × seed under one protocol, each cell a standard run
//! directory `OUT/var_σ²/<method>/seed_S/`, and the one shell command that brings a cell to
//! completion (skip it if finished, resume it if interrupted, start it otherwise).

use crate::colored::dataset::{parse_variance, variance_tag};
use crate::sweep::plan::{CellState, SweepGrid, run_dir_progress, run_dir_state};
use crate::train::checkpoint::load_checkpoint;
use crate::train::config::{CONFIG_FILE, Method, read_config};
use crate::train::protocol::{Protocol, cell_dir};
use crate::train::result::{RESULT_FILE, read_result};
use crate::train::run::CHECKPOINT_FILE;
use anyhow::{Result, ensure};
use std::path::{Path, PathBuf};

/// One run of the grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// σ².
    pub variance: f64,
    /// The method.
    pub method: Method,
    /// Training seed.
    pub seed: u64,
}

impl Cell {
    /// Whether the cell warm-starts from its baseline cell (so runs after it).
    pub fn is_dependent(&self, protocol: Protocol) -> bool {
        protocol.warm_starts(self.method)
    }

    /// The baseline cell it warm-starts from, if any.
    pub fn baseline(&self, protocol: Protocol) -> Option<Cell> {
        self.is_dependent(protocol).then_some(Cell {
            method: Method::Baseline,
            ..*self
        })
    }

    /// A short label: `lntl σ²=0.020 seed 0`.
    pub fn label(&self) -> String {
        format!(
            "{} σ²={} seed {}",
            self.method.name(),
            variance_tag(self.variance),
            self.seed
        )
    }
}

/// A sweep: the cells of vars × methods × seeds, run under `protocol` in `out`.
#[derive(Debug, Clone)]
pub struct Grid {
    /// The protocol of every cell.
    pub protocol: Protocol,
    /// The root of the run directories.
    pub out: PathBuf,
    /// σ² values.
    pub variances: Vec<f64>,
    /// Methods.
    pub methods: Vec<Method>,
    /// Seeds.
    pub seeds: Vec<u64>,
    /// Measure on held-out training digits instead of the test set (`--validation`).
    pub validation: bool,
}

/// Which cells a listing includes: a Slurm job array runs the independent cells (baseline,
/// Gray) first and the dependent ones (LNTL, BlindEye) after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Every cell, σ² by σ², each baseline before the cells that warm-start from it.
    All,
    /// Cells that start from scratch.
    Independent,
    /// Cells that warm-start from a baseline cell.
    Dependent,
}

impl Grid {
    /// The cells of `stage` in dependency order, σ² by σ² (so that the table fills row by
    /// row): at each σ², the methods that start from scratch, then those that warm-start from
    /// the baseline cell, each method over the seeds.
    pub fn cells(&self, stage: Stage) -> Vec<Cell> {
        let (dependent, independent): (Vec<Method>, Vec<Method>) = self
            .methods
            .iter()
            .partition(|&&m| self.protocol.warm_starts(m));
        let methods = match stage {
            Stage::All => [independent, dependent].concat(),
            Stage::Independent => independent,
            Stage::Dependent => dependent,
        };
        let mut cells = Vec::new();
        for &variance in &self.variances {
            for &method in &methods {
                for &seed in &self.seeds {
                    cells.push(Cell {
                        variance,
                        method,
                        seed,
                    });
                }
            }
        }
        cells
    }

    /// Whether `base` is a finished baseline cell whose checkpoint is gone (checkpoints are
    /// never committed, so a fresh clone of finished results has none) while an unstarted
    /// dependent cell of the grid warm-starts from it: it must be trained again first. A
    /// dependent cell that has started resumes from its own checkpoint and needs none.
    pub fn must_retrain(&self, base: &Cell) -> bool {
        base.method == Method::Baseline
            && self.state(base) == CellState::Finished
            && !self.dir(base).join(CHECKPOINT_FILE).is_file()
            && self.cells(Stage::Dependent).iter().any(|cell| {
                cell.baseline(self.protocol) == Some(*base) && self.state(cell) == CellState::New
            })
    }

    /// The baseline cells the grid must train again ([`Grid::must_retrain`]), in order.
    pub fn baselines_without_checkpoint(&self) -> Vec<Cell> {
        let mut bases: Vec<Cell> = Vec::new();
        for cell in self.cells(Stage::Dependent) {
            if let Some(base) = cell.baseline(self.protocol)
                && !bases.contains(&base)
                && self.must_retrain(&base)
            {
                bases.push(base);
            }
        }
        bases
    }

    /// The cells that bring `stage` to completion, in dependency order: [`Grid::cells`], with
    /// the baselines to train again ([`Grid::baselines_without_checkpoint`]) among the
    /// independent cells even when baseline is not in the grid's methods.
    pub fn cells_for(&self, stage: Stage) -> Vec<Cell> {
        let mut cells = self.cells(stage);
        if stage != Stage::Dependent {
            let missing: Vec<Cell> = self
                .baselines_without_checkpoint()
                .into_iter()
                .filter(|base| !cells.contains(base))
                .collect();
            cells.splice(0..0, missing);
        }
        cells
    }
}

impl SweepGrid for Grid {
    type Cell = Cell;

    fn cells_to_run(&self) -> Vec<Cell> {
        self.cells_for(Stage::All)
    }

    fn label(&self, cell: &Cell) -> String {
        cell.label()
    }

    fn epochs(&self, cell: &Cell) -> usize {
        self.protocol.epochs(cell.method)
    }

    fn cost(&self, cell: &Cell) -> f64 {
        self.protocol.cost(cell.method)
    }

    fn dependency(&self, cell: &Cell) -> Option<Cell> {
        cell.baseline(self.protocol)
    }

    fn to_train_again(&self) -> Vec<Cell> {
        self.baselines_without_checkpoint()
    }

    /// Checks that every dependent cell's baseline is in the grid or finished on disk.
    fn check_dependencies(&self) -> Result<()> {
        for cell in self.cells(Stage::Dependent) {
            let base = cell
                .baseline(self.protocol)
                .expect("dependent cells have a baseline");
            ensure!(
                self.methods.contains(&Method::Baseline)
                    || self.state(&base) == CellState::Finished,
                "{} warm-starts from the baseline cell {}, which is neither finished nor in \
                 --methods; add baseline to --methods",
                cell.label(),
                self.dir(&base).display()
            );
        }
        Ok(())
    }

    /// The run directory of `cell`.
    fn dir(&self, cell: &Cell) -> PathBuf {
        cell_dir(&self.out, cell.variance, cell.method, cell.seed)
    }

    /// Where `cell` stands on disk.
    fn state(&self, cell: &Cell) -> CellState {
        run_dir_state(&self.dir(cell), |path| {
            Ok(load_checkpoint(path)?.epochs_done)
        })
    }

    /// The epochs `cell` has logged, and the test accuracy after the last of them.
    fn progress(&self, cell: &Cell) -> (usize, Option<f64>) {
        run_dir_progress(&self.dir(cell), "test_accuracy")
    }

    /// Whether `cell`, if it has started, was trained with this grid's protocol as it is now
    /// (see [`Protocol::check_settings`]).
    fn check_settings(&self, cell: &Cell) -> Result<()> {
        let path = self.dir(cell).join(CONFIG_FILE);
        if !path.is_file() {
            return Ok(());
        }
        self.protocol.check_settings(&read_config(&path)?, &path)
    }

    /// Whether `cell`'s finished result is this grid's (its method, σ², seed and protocol).
    fn check_result(&self, cell: &Cell) -> Result<()> {
        let path = self.dir(cell).join(RESULT_FILE);
        let r = read_result(&path)?;
        ensure!(
            r.method == cell.method.name()
                && r.variance == cell.variance
                && r.seed == cell.seed
                && r.protocol.as_deref() == Some(self.protocol.name())
                && (r.evaluated_on == "validation") == self.validation,
            "{}: holds {} σ²={} seed {} protocol {:?} measured on {}, not this cell",
            path.display(),
            r.method,
            r.variance,
            r.seed,
            r.protocol,
            r.evaluated_on
        );
        Ok(())
    }

    /// The command that brings `cell` to completion, as words: `lntl [global flags] train
    /// --protocol P --method M --var σ² --seed S --run-dir DIR --resume-or-start`, with
    /// `--ensure-checkpoint` for a baseline the grid must train again.
    fn command(&self, cell: &Cell, exe: &Path, global: &[String]) -> Vec<String> {
        let mut words = vec![exe.display().to_string()];
        words.extend(global.iter().cloned());
        words.extend([
            "train".into(),
            "--protocol".into(),
            self.protocol.name().into(),
            "--method".into(),
            cell.method.name().into(),
            "--var".into(),
            variance_tag(cell.variance),
            "--seed".into(),
            cell.seed.to_string(),
            "--run-dir".into(),
            self.dir(cell).display().to_string(),
            "--resume-or-start".into(),
        ]);
        if self.validation {
            words.push("--validation".into());
        }
        if self.must_retrain(cell) {
            words.push("--ensure-checkpoint".into());
        }
        words
    }
}

/// Parses `--vars`: `all` (the paper's seven) or a comma-separated list of σ² in (0, 1].
pub fn parse_variances(text: &str) -> Result<Vec<f64>> {
    if text == "all" {
        return Ok(crate::colored::palette::PAPER_VARIANCES.to_vec());
    }
    text.split(',')
        .map(|v| parse_variance(v.trim()).map_err(|e| anyhow::anyhow!("--vars: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(methods: Vec<Method>) -> Grid {
        Grid {
            protocol: Protocol::Smoke,
            out: PathBuf::from("/sweep"),
            variances: vec![0.02, 0.05],
            methods,
            seeds: vec![0, 1],
            validation: false,
        }
    }

    #[test]
    fn cells_come_in_dependency_order_row_by_row() {
        let g = grid(vec![Method::Lntl, Method::Baseline, Method::Gray]);
        let cells = g.cells(Stage::All);
        let listed: Vec<(f64, &str, u64)> = cells
            .iter()
            .map(|c| (c.variance, c.method.name(), c.seed))
            .collect();
        let mut expected = Vec::new();
        for variance in [0.02, 0.05] {
            for method in ["baseline", "gray", "lntl"] {
                expected.extend([(variance, method, 0), (variance, method, 1)]);
            }
        }
        assert_eq!(listed, expected);
        let (dependent, independent): (Vec<Cell>, Vec<Cell>) =
            cells.iter().partition(|c| c.method == Method::Lntl);
        assert_eq!(g.cells(Stage::Independent), independent);
        assert_eq!(g.cells(Stage::Dependent), dependent);
        assert_eq!(
            g.dir(&cells[4]),
            PathBuf::from("/sweep/var_0.020/lntl/seed_0")
        );
    }

    #[test]
    fn commands_are_self_contained() {
        let g = grid(vec![Method::Lntl]);
        let cell = g.cells(Stage::All)[0];
        let line = g.command_line(
            &cell,
            Path::new("/bin/lntl"),
            &["--threads".into(), "1".into()],
        );
        assert_eq!(
            line,
            "/bin/lntl --threads 1 train --protocol smoke --method lntl --var 0.020 --seed 0 \
             --run-dir /sweep/var_0.020/lntl/seed_0 --resume-or-start"
        );
    }

    #[test]
    fn dependents_need_their_baseline() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = grid(vec![Method::Lntl]);
        g.out = dir.path().to_path_buf();
        assert!(format!("{:#}", g.check_dependencies().unwrap_err()).contains("baseline"));
        g.methods.push(Method::Baseline);
        g.check_dependencies().unwrap();
    }

    #[test]
    fn variance_lists() {
        assert_eq!(parse_variances("all").unwrap().len(), 7);
        assert_eq!(parse_variances("0.02, 0.05").unwrap(), vec![0.02, 0.05]);
        for bad in ["0", "x", "2", "nan"] {
            assert!(parse_variances(bad).is_err(), "{bad}");
        }
    }
}
