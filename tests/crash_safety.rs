//! Crash safety: a small LNTL run is killed with SIGKILL at pseudo-random moments (while it
//! loads, trains, evaluates or writes its checkpoint) and restarted with `--resume-or-start` each
//! time, until it finishes; its final weights, batch-norm statistics and momentum buffers must
//! equal an uninterrupted run's bit for bit. `LNTL_KILLS=N` sets the number of kills (default 12).

use lntl::train::checkpoint::load_checkpoint;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const LNTL: &str = env!("CARGO_BIN_EXE_lntl");

fn train(run_dir: &Path) -> Command {
    let mut cmd = Command::new(LNTL);
    cmd.args([
        "--threads",
        "2",
        "train",
        "--method",
        "lntl",
        "--var",
        "0.020",
        "--epochs",
        "3",
        "--train-limit",
        "1000",
        "--leakage-images",
        "0",
        "--resume-or-start",
        "--run-dir",
    ])
    .arg(run_dir)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    cmd
}

#[test]
fn killed_and_resumed_run_equals_an_uninterrupted_one() {
    let kills: usize = std::env::var("LNTL_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    assert!(train(&whole).status().unwrap().success());
    let whole_seconds = {
        let text = std::fs::read_to_string(whole.join("result.json")).unwrap();
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        r["seconds"].as_f64().unwrap()
    };

    let killed = root.path().join("killed");
    // A fixed linear congruential sequence spreads the kills over a run's life: loading,
    // training, evaluating and the atomic checkpoint write.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let span_ms = (whole_seconds * 1000.0 / 3.0).max(200.0) as u64 + 400;
    let mut done = 0;
    while done < kills {
        let mut child = train(&killed).spawn().unwrap();
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        std::thread::sleep(Duration::from_millis((state >> 33) % span_ms));
        if child.try_wait().unwrap().is_some() {
            // Finished before the kill: start over from scratch to place the remaining kills.
            std::fs::remove_dir_all(&killed).unwrap();
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        done += 1;
    }
    assert!(
        train(&killed).status().unwrap().success(),
        "the last resume finishes"
    );
    let a = load_checkpoint(&whole.join("checkpoint.safetensors")).unwrap();
    let b = load_checkpoint(&killed.join("checkpoint.safetensors")).unwrap();
    assert_eq!(b.epochs_done, 3);
    assert_eq!(a.file.tensors, b.file.tensors, "after {kills} kills");
    let epochs = std::fs::read_to_string(killed.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"epoch\""))
        .count();
    assert_eq!(epochs, 3, "each epoch logged once");
    let leftovers: Vec<_> = std::fs::read_dir(&killed)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".lntl-partial-") || n == "run.lock")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    eprintln!("{kills} kills, final state bit-identical");
}

/// Ctrl-C stops a run between batches with exit status 130 and one line saying where the run
/// stands and the command that resumes it; the lock is released, and that command finishes the
/// run.
#[test]
fn ctrl_c_stops_cleanly_with_a_resume_command() {
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("run");
    let mut child = train(&run).stderr(Stdio::piped()).spawn().unwrap();
    // Interrupt once the first epoch's checkpoint is written.
    let metrics = run.join("metrics.jsonl");
    while std::fs::read_to_string(&metrics).map_or(true, |t| t.lines().count() < 1) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The shell's own `kill`, which every POSIX system has (a `kill` binary may be missing).
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -INT {}", child.id())])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("interrupted in epoch ")
            && last.ends_with(&format!(
                "resume with: lntl train --resume --run-dir {}",
                run.display()
            )),
        "{stderr}"
    );
    assert!(!run.join("run.lock").exists(), "the lock is released");
    assert!(
        train(&run).status().unwrap().success(),
        "the resume finishes"
    );
    assert_eq!(
        load_checkpoint(&run.join("checkpoint.safetensors"))
            .unwrap()
            .epochs_done,
        3
    );
}
