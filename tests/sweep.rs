//! `lntl sweep` and `lntl report` end to end, on the `smoke` protocol (seconds per cell, real
//! Colored-MNIST): a two-σ², two-method, two-seed grid is killed in the middle of a cell, rerun
//! (finished cells skipped, the interrupted one resumed), and reported (mean, std, missing).

use lntl::report::table::{build_report, mean_std};
use lntl::train::result::read_result;
use lntl::util::cpu::cpu_description;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LNTL: &str = env!("CARGO_BIN_EXE_lntl");

fn sweep_command(out: &Path) -> Command {
    let mut cmd = Command::new(LNTL);
    cmd.args([
        "--threads",
        "2",
        "sweep",
        "--vars",
        "0.020,0.050",
        "--methods",
        "baseline,lntl",
        "--seeds",
        "0,1",
        "--protocol",
        "smoke",
        "--out",
    ])
    .arg(out);
    cmd
}

fn cell(out: &Path, var: &str, method: &str, seed: u64) -> PathBuf {
    out.join(format!("var_{var}/{method}/seed_{seed}"))
}

/// The PID in a run directory's lock, while one holds it.
fn lock_pid(dir: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(dir.join("run.lock")).ok()?;
    text.split_whitespace().nth(1)?.parse().ok()
}

fn kill(pid: i32) {
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sweep_survives_a_kill_resumes_and_reports() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("grid");
    let first = cell(&out, "0.020", "baseline", 0);
    let second = cell(&out, "0.020", "baseline", 1);

    // Run until the second cell has a checkpoint (epoch 1 of 2) but no result, then kill the
    // sweep and the cell's process, as a machine that goes down would.
    let mut sweep = sweep_command(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let cell_pid = loop {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the sweep never got there"
        );
        let interrupted =
            second.join("checkpoint.safetensors").exists() && !second.join("result.json").exists();
        if let Some(pid) = lock_pid(&second).filter(|_| interrupted) {
            break pid;
        }
        assert!(
            sweep.try_wait().unwrap().is_none(),
            "the sweep ended before the kill"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    kill(sweep.id() as i32);
    kill(cell_pid);
    sweep.wait().unwrap();
    let first_result = std::fs::read(first.join("result.json")).unwrap();
    assert!(!second.join("result.json").exists());

    // Rerun: the finished cell is skipped (its result untouched), the interrupted one resumed
    // after epoch 1, and the rest run.
    let rerun = sweep_command(&out).output().unwrap();
    let log = String::from_utf8_lossy(&rerun.stderr);
    assert!(rerun.status.success(), "{log}");
    assert!(log.contains("1 finished already"), "{log}");
    assert!(
        log.contains("resuming after epoch 1: baseline σ²=0.020 seed 1"),
        "{log}"
    );
    assert!(!log.contains("starting: baseline σ²=0.020 seed 0"), "{log}");
    assert_eq!(
        std::fs::read(first.join("result.json")).unwrap(),
        first_result
    );
    let resumed = read_result(&second.join("result.json")).unwrap();
    assert_eq!(
        resumed.curves.test_accuracy.len(),
        2,
        "each epoch logged once"
    );
    assert!(!second.join("run.lock").exists(), "locks are released");

    // A third run finds everything done.
    let again = sweep_command(&out).output().unwrap();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(log.contains("8 finished already, 0 to run"), "{log}");

    // The report: four groups of two seeds, mean and sample std as computed from the cells.
    let report = build_report(std::slice::from_ref(&out)).unwrap();
    assert_eq!(report.cells.len(), 8);
    assert_eq!(report.groups.len(), 4);
    assert!(report.missing.is_empty());
    let lntl_002: Vec<f64> = (0..2)
        .map(|s| {
            read_result(&cell(&out, "0.020", "lntl", s).join("result.json"))
                .unwrap()
                .test_accuracy
        })
        .collect();
    let group = report
        .groups
        .iter()
        .find(|g| g.method == "lntl" && g.variance == 0.020)
        .unwrap();
    let (mean, std) = mean_std(&lntl_002);
    assert_eq!((group.mean, group.std), (mean, std));
    assert_eq!(group.seeds, vec![0, 1]);
    assert_eq!(group.paper, Some(0.8185));
    // LNTL cells warm-started from their own baseline cell.
    let config =
        std::fs::read_to_string(cell(&out, "0.050", "lntl", 1).join("config.json")).unwrap();
    assert!(
        config.contains("var_0.050/baseline/seed_1/checkpoint.safetensors"),
        "{config}"
    );

    // `lntl report` renders it; a cell without a result is shown as missing.
    std::fs::remove_file(cell(&out, "0.050", "lntl", 1).join("result.json")).unwrap();
    let report_of = |out: &Path| Command::new(LNTL).arg("report").arg(out).output().unwrap();
    let shown = report_of(&out);
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    assert!(text.contains("Missing cells (1)"), "{text}");
    assert!(text.contains("- lntl σ² = 0.050 seed 1"), "{text}");
    assert!(text.contains("| lntl | 0.050 | 1 (0) |"), "{text}");
    // Every run recorded the CPU it trained on, and the table's time names it.
    let cpu = cpu_description();
    assert!(report.cells.iter().all(|c| c.cpu.as_deref() == Some(&*cpu)));
    assert!(text.contains(&format!("CPUs: {cpu} 7 runs.")), "{text}");
    for file in [
        "report.md",
        "report.json",
        "accuracy_vs_variance.png",
        "confusion_var_0.020.png",
        "confusion_var_0.050.png",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    // Once σ² = 0.050 has no LNTL result left, its confusion figure goes too.
    std::fs::remove_file(cell(&out, "0.050", "lntl", 0).join("result.json")).unwrap();
    assert!(report_of(&out).status.success());
    assert!(!out.join("confusion_var_0.050.png").exists());
    assert!(out.join("confusion_var_0.020.png").is_file());
    assert!(out.join("curves_var_0.050.png").is_file());
}

#[test]
fn print_commands_lists_each_baseline_before_its_dependents_and_each_command_runs_its_cell() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("grid");
    let listed = |stage: &str| {
        let o = sweep_command(&out)
            .args(["--print-commands", "--stage", stage])
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let all = listed("all");
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 8);
    // σ² by σ²: both seeds' baselines, then both seeds' LNTL.
    for (i, line) in lines.iter().enumerate() {
        let (var, method, seed) = (
            ["0.020", "0.050"][i / 4],
            ["baseline", "lntl"][i / 2 % 2],
            i % 2,
        );
        let cell = format!("--method {method} --var {var} --seed {seed} ");
        assert!(line.contains(&cell), "line {i}: {line}");
    }
    assert_eq!(listed("independent").lines().count(), 4);
    assert_eq!(listed("dependent").lines().count(), 4);
    // An LNTL command before its baseline fails with a clear error; after it, it runs.
    let run = |line: &str| Command::new("sh").args(["-c", line]).output().unwrap();
    let early = run(lines[2]);
    assert!(!early.status.success());
    assert!(String::from_utf8_lossy(&early.stderr).contains("checkpoint"));
    assert!(run(lines[0]).status.success());
    let after = run(lines[2]);
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert!(cell(&out, "0.020", "lntl", 0).join("result.json").is_file());
    // Run again, the command leaves the finished cell alone.
    let again = run(lines[2]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("has finished already"));
}

/// A `smoke` sweep of σ² = 0.020, seed 0, `methods`, into `out`: whether it succeeded, and
/// its log.
fn small_sweep(out: &Path, methods: &str) -> (bool, String) {
    let output = small_sweep_command(out, methods).output().unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), log)
}

/// The command of [`small_sweep`], for more flags.
fn small_sweep_command(out: &Path, methods: &str) -> Command {
    let mut cmd = Command::new(LNTL);
    cmd.args(["--threads", "2", "sweep", "--vars", "0.020", "--seeds", "0"])
        .args(["--protocol", "smoke", "--methods", methods, "--out"])
        .arg(out);
    cmd
}

/// A clone of committed results has each finished baseline's `result.json` but not its
/// checkpoint: a dependent cell then makes the sweep train the baseline again (even when
/// baseline is not in --methods), which reproduces its accuracy exactly on the same thread
/// count, and then runs the dependent cell from it.
#[test]
fn a_finished_baseline_without_checkpoint_is_trained_again_for_its_dependents() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("grid");
    let sweep = |methods: &str| {
        let (ok, log) = small_sweep(&out, methods);
        assert!(ok, "{log}");
        log
    };
    sweep("baseline");
    let base = cell(&out, "0.020", "baseline", 0);
    let before = read_result(&base.join("result.json")).unwrap();
    std::fs::remove_file(base.join("checkpoint.safetensors")).unwrap();

    let log = sweep("lntl");
    assert!(log.contains("training it again"), "{log}");
    assert!(log.contains("reproduced exactly"), "{log}");
    let after = read_result(&base.join("result.json")).unwrap();
    assert_eq!(after.test_accuracy, before.test_accuracy);
    assert!(base.join("checkpoint.safetensors").is_file());
    assert!(!base.join("result.previous.json").exists());
    let lntl = read_result(&cell(&out, "0.020", "lntl", 0).join("result.json")).unwrap();
    assert_eq!(lntl.method, "lntl");
}

/// The same clone on a cluster: `--print-commands` lists the baseline whose checkpoint is
/// gone among the independent cells, with `--ensure-checkpoint`, so that its command trains it
/// again (once: run again, it leaves the cell alone) and the dependent command then runs.
#[test]
fn printed_commands_train_again_a_baseline_whose_checkpoint_is_gone() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("grid");
    let (ok, log) = small_sweep(&out, "baseline");
    assert!(ok, "{log}");
    let base = cell(&out, "0.020", "baseline", 0);
    std::fs::remove_file(base.join("checkpoint.safetensors")).unwrap();
    let listed = |stage: &str| {
        let o = small_sweep_command(&out, "lntl")
            .args(["--print-commands", "--stage", stage])
            .output()
            .unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let independent = listed("independent");
    let lines: Vec<&str> = independent.lines().collect();
    assert_eq!(lines.len(), 1, "{independent}");
    assert!(lines[0].contains("--method baseline") && lines[0].ends_with("--ensure-checkpoint"));
    let dependent = listed("dependent");
    assert!(!dependent.contains("--ensure-checkpoint"), "{dependent}");

    let run = |line: &str| {
        let o = Command::new("sh").args(["-c", line]).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let log = run(lines[0]);
    assert!(
        log.contains("training it again") && log.contains("reproduced exactly"),
        "{log}"
    );
    assert!(base.join("checkpoint.safetensors").is_file());
    assert!(!base.join("result.previous.json").exists());
    assert!(run(lines[0]).contains("has finished already"));
    run(dependent.trim());
    assert!(cell(&out, "0.020", "lntl", 0).join("result.json").is_file());
    assert_eq!(listed("independent"), "", "nothing is left to train again");
}

/// A cell trained with settings its protocol no longer has (here: another batch size, as if
/// a default had changed since) is refused by the sweep and by the cell's own command, never
/// skipped as finished or resumed as if it were the protocol's.
#[test]
fn a_cell_with_settings_the_protocol_no_longer_has_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("grid");
    let (ok, log) = small_sweep(&out, "baseline");
    assert!(ok, "{log}");
    let base = cell(&out, "0.020", "baseline", 0);
    let config = base.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("\"batch_size\": 128"), "{text}");
    std::fs::write(
        &config,
        text.replace("\"batch_size\": 128", "\"batch_size\": 64"),
    )
    .unwrap();

    let (ok, log) = small_sweep(&out, "baseline");
    assert!(!ok, "a stale cell must stop the sweep: {log}");
    assert!(
        log.contains("config.json") && log.contains("batch_size"),
        "{log}"
    );

    let output = Command::new(LNTL)
        .args([
            "train",
            "--protocol",
            "smoke",
            "--method",
            "baseline",
            "--var",
            "0.020",
        ])
        .args(["--seed", "0", "--resume-or-start", "--run-dir"])
        .arg(&base)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{log}");
    assert!(
        log.contains("no longer uses") && log.contains("batch_size"),
        "{log}"
    );
}
