//! LfF's table as a grid: conflict ratio × method × seed, every cell LfF's schedule
//! ([`LffConfig::lff_protocol`]) in `OUT/ratio_<r>/<method>/seed_S/`, none depending on another.

use crate::sweep::plan::{CellState, SweepGrid, run_dir_progress, run_dir_state};
use crate::train::config::CONFIG_FILE;
use crate::train::lff_model::{LffMethod, checkpoint_steps};
use crate::train::lff_run::{LffConfig, LffResult, lff_cell_dir};
use crate::train::result::RESULT_FILE;
use anyhow::{Context, Result, ensure};
use std::path::{Path, PathBuf};

/// One run of LfF's grid.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LffCell {
    /// The fraction of bias-conflicting training digits.
    pub conflict_ratio: f64,
    /// The method.
    pub method: LffMethod,
    /// Training seed.
    pub seed: u64,
}

impl LffCell {
    /// The cell's settings.
    pub fn config(&self) -> LffConfig {
        LffConfig::lff_protocol(self.method, self.conflict_ratio, self.seed)
    }
}

/// A sweep over LfF's benchmark.
#[derive(Debug, Clone)]
pub struct LffGrid {
    /// The root of the run directories.
    pub out: PathBuf,
    /// Bias-conflicting fractions.
    pub ratios: Vec<f64>,
    /// Methods.
    pub methods: Vec<LffMethod>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not what LfF's grid wrote", path.display()))
}

impl SweepGrid for LffGrid {
    type Cell = LffCell;

    /// Ratio by ratio (the table fills row by row), each method over the seeds.
    fn cells_to_run(&self) -> Vec<LffCell> {
        let mut cells = Vec::new();
        for &conflict_ratio in &self.ratios {
            for &method in &self.methods {
                for &seed in &self.seeds {
                    cells.push(LffCell {
                        conflict_ratio,
                        method,
                        seed,
                    });
                }
            }
        }
        cells
    }

    fn label(&self, cell: &LffCell) -> String {
        format!(
            "{} {} % seed {}",
            cell.method.name(),
            cell.conflict_ratio * 100.0,
            cell.seed
        )
    }

    fn dir(&self, cell: &LffCell) -> PathBuf {
        lff_cell_dir(&self.out, cell.conflict_ratio, cell.method, cell.seed)
    }

    fn state(&self, cell: &LffCell) -> CellState {
        run_dir_state(&self.dir(cell), |path| {
            Ok(checkpoint_steps(path)? / cell.config().steps_per_epoch())
        })
    }

    /// `lntl [global flags] train --benchmark lff --method M --conflict-ratio R --seed S
    /// --run-dir DIR --resume-or-start`.
    fn command(&self, cell: &LffCell, exe: &Path, global: &[String]) -> Vec<String> {
        let mut words = vec![exe.display().to_string()];
        words.extend(global.iter().cloned());
        words.extend([
            "train".into(),
            "--benchmark".into(),
            "lff".into(),
            "--method".into(),
            cell.method.name().into(),
            "--conflict-ratio".into(),
            cell.conflict_ratio.to_string(),
            "--seed".into(),
            cell.seed.to_string(),
            "--run-dir".into(),
            self.dir(cell).display().to_string(),
            "--resume-or-start".into(),
        ]);
        words
    }

    fn epochs(&self, cell: &LffCell) -> usize {
        cell.config().epochs
    }

    /// LfF trains two networks and LNTL passes through its MLP twice per iteration; the
    /// others train one network once.
    fn cost(&self, cell: &LffCell) -> f64 {
        match cell.method {
            LffMethod::Vanilla | LffMethod::GroupDro => 1.0,
            LffMethod::Lff | LffMethod::Lntl => 2.0,
        }
    }

    fn progress(&self, cell: &LffCell) -> (usize, Option<f64>) {
        run_dir_progress(&self.dir(cell), "unbiased_accuracy")
    }

    fn check_settings(&self, cell: &LffCell) -> Result<()> {
        let path = self.dir(cell).join(CONFIG_FILE);
        if !path.is_file() {
            return Ok(());
        }
        let stored: LffConfig = read_json(&path)?;
        ensure!(
            stored == cell.config(),
            "{}: made with other settings than LfF's schedule for this cell; move it away to \
             train the cell again",
            path.display()
        );
        Ok(())
    }

    fn check_result(&self, cell: &LffCell) -> Result<()> {
        let path = self.dir(cell).join(RESULT_FILE);
        let r: LffResult = read_json(&path)?;
        ensure!(
            r.benchmark == "lff"
                && r.method == cell.method.name()
                && r.conflict_ratio == cell.conflict_ratio
                && r.seed == cell.seed,
            "{}: holds {} at {} seed {}, not this cell",
            path.display(),
            r.method,
            r.conflict_ratio,
            r.seed
        );
        Ok(())
    }
}

/// Parses `--ratios`: a comma-separated list of fractions in (0, 1).
pub fn parse_ratios(text: &str) -> Result<Vec<f64>> {
    text.split(',')
        .map(|v| {
            let r: f64 = v
                .trim()
                .parse()
                .map_err(|_| anyhow::anyhow!("--ratios: {v:?} is not a number"))?;
            ensure!(
                r > 0.0 && r < 1.0,
                "--ratios: {r} is not a fraction in (0, 1)"
            );
            Ok(r)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_commands_and_ratio_lists() {
        let grid = LffGrid {
            out: PathBuf::from("/lff"),
            ratios: vec![0.005, 0.05],
            methods: vec![LffMethod::Vanilla, LffMethod::Lff],
            seeds: vec![0, 1],
        };
        let cells = grid.cells_to_run();
        assert_eq!(cells.len(), 8);
        assert_eq!(
            (cells[5].conflict_ratio, cells[5].method, cells[5].seed),
            (0.05, LffMethod::Vanilla, 1)
        );
        assert_eq!(
            grid.command_line(&cells[2], Path::new("/bin/lntl"), &[]),
            "/bin/lntl train --benchmark lff --method lff --conflict-ratio 0.005 --seed 0 \
             --run-dir /lff/ratio_0.005/lff/seed_0 --resume-or-start"
        );
        assert_eq!(parse_ratios("0.01, 0.05").unwrap(), [0.01, 0.05]);
        for bad in ["0", "1", "x", "-0.1", "nan"] {
            assert!(parse_ratios(bad).is_err(), "{bad}");
        }
    }

    /// A cell is new, then interrupted after the epochs its checkpoint holds, then finished;
    /// a result of another cell is refused.
    #[test]
    fn cell_states_follow_the_files() {
        use crate::engine::adam::AdamConfig;
        use crate::train::lff_model::{LffModels, MethodSettings};
        use crate::train::run::CHECKPOINT_FILE;
        let out = tempfile::tempdir().unwrap();
        let grid = LffGrid {
            out: out.path().to_path_buf(),
            ratios: vec![0.01],
            methods: vec![LffMethod::Lff],
            seeds: vec![3],
        };
        let cell = grid.cells_to_run()[0];
        assert_eq!(grid.state(&cell), CellState::New);
        let dir = grid.dir(&cell);
        std::fs::create_dir_all(&dir).unwrap();
        let mut models = LffModels::new(
            LffMethod::Lff,
            0,
            &[0, 1],
            AdamConfig::pytorch(1e-3),
            MethodSettings::DEFAULT,
        );
        models.save(&dir.join(CHECKPOINT_FILE), 2 * 235).unwrap();
        assert_eq!(grid.state(&cell), CellState::Interrupted(2));
        let result = |seed: u64| {
            serde_json::json!({
                "benchmark": "lff", "method": "lff", "conflict_ratio": 0.01, "severity": 4,
                "seed": seed, "data_seed": 0, "epochs": 100, "steps": 23500,
                "final": {"unbiased_accuracy": 0.7, "aligned_accuracy": 0.7,
                          "conflicting_accuracy": 0.7},
                "best": {"unbiased_accuracy": 0.7, "aligned_accuracy": 0.7,
                         "conflicting_accuracy": 0.7},
                "best_epoch": 100, "seconds": 1.0, "cpu": "x", "command": "c", "commit": "c"
            })
            .to_string()
        };
        std::fs::write(dir.join(RESULT_FILE), result(3)).unwrap();
        assert_eq!(grid.state(&cell), CellState::Finished);
        grid.check_result(&cell).unwrap();
        std::fs::write(dir.join(RESULT_FILE), result(4)).unwrap();
        assert!(grid.check_result(&cell).is_err());
    }
}
