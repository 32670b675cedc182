//! The lock of a run directory: `run.lock`, created exclusively (`O_EXCL`, which also holds on
//! shared network disks) and holding the owner's host and PID, so that two processes, or two
//! machines, never train in one directory. A lock whose owner died on this host is taken over.
//!
//! Hand-written rather than `flock` from a crate: advisory file locks are not reliable on the
//! network file systems a cluster shares, and a lock file also tells a person who holds it.

use crate::util::atomic::remove_partial_files;
use anyhow::{Context, Result, bail};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// File name of the lock in a run directory.
pub const LOCK_FILE: &str = "run.lock";

/// A held lock; dropping it removes the file, and the directories taking it created if they
/// are still empty (a start that failed before writing anything leaves nothing behind).
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// The directories `acquire` created, deepest first.
    created: Vec<PathBuf>,
}

/// This machine's name, as the lock records it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

/// Whether process `pid` of this host is alive.
fn process_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Who holds a lock: (host, pid), parsed from its `host pid` line.
fn owner(text: &str) -> Option<(String, u32)> {
    let mut words = text.split_whitespace();
    let host = words.next()?.to_string();
    let pid = words.next()?.parse().ok()?;
    Some((host, pid))
}

/// The holder of `run_dir`'s lock (`host pid`) when one holds it: a live process of this host,
/// or a process of another host, which cannot be checked and so counts as live.
pub fn live_holder(run_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(run_dir.join(LOCK_FILE)).ok()?;
    let (host, pid) = owner(&text)?;
    (host != host_name() || process_alive(pid)).then(|| format!("process {pid} on {host}"))
}

impl RunLock {
    /// Takes the lock of `run_dir` (creating the directory), or fails naming the holder.
    pub fn acquire(run_dir: &Path) -> Result<RunLock> {
        let created: Vec<PathBuf> = run_dir
            .ancestors()
            .take_while(|dir| !dir.as_os_str().is_empty() && !dir.exists())
            .map(Path::to_path_buf)
            .collect();
        std::fs::create_dir_all(run_dir)
            .with_context(|| format!("{}: cannot create the run directory", run_dir.display()))?;
        let path = run_dir.join(LOCK_FILE);
        let me = format!("{} {}\n", host_name(), std::process::id());
        for _ in 0..2 {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    file.write_all(me.as_bytes())
                        .and_then(|()| file.sync_all())
                        .with_context(|| format!("{}: cannot write the lock", path.display()))?;
                    // Ours alone now: what interrupted writes left behind can go.
                    remove_partial_files(run_dir)?;
                    return Ok(RunLock { path, created });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match owner(&text) {
                        Some((host, pid)) if host == host_name() && !process_alive(pid) => {
                            // The owner died without cleaning up (killed): take the lock over.
                            std::fs::remove_file(&path).with_context(|| {
                                format!("{}: cannot remove the stale lock", path.display())
                            })?;
                        }
                        Some((host, pid)) => bail!(
                            "{} is in use by process {pid} on {host} ({}); if that process is \
                             gone, delete the lock file",
                            run_dir.display(),
                            path.display()
                        ),
                        None => bail!(
                            "{}: unreadable lock file; if no run uses this directory, delete it",
                            path.display()
                        ),
                    }
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("{}: cannot create the lock", path.display()));
                }
            }
        }
        bail!(
            "{}: the lock changed hands while taking it over",
            path.display()
        )
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Nothing to do if it is gone already; the next run would take over a stale lock anyway.
        let _ = std::fs::remove_file(&self.path);
        // remove_dir fails on a directory that is not empty, which ends the walk up.
        for dir in &self.created {
            if std::fs::remove_dir(dir).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_it_created_go_if_nothing_was_written() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("a/b/run");
        drop(RunLock::acquire(&run).unwrap());
        assert!(!dir.path().join("a").exists(), "empty directories removed");
        assert!(dir.path().exists(), "what existed before stays");

        let lock = RunLock::acquire(&run).unwrap();
        std::fs::write(run.join("config.json"), b"{}").unwrap();
        drop(lock);
        assert!(run.join("config.json").is_file(), "a run that wrote stays");
        assert!(!run.join(LOCK_FILE).exists());
    }

    #[test]
    fn second_holder_is_refused_and_a_dead_owner_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(run.join(".lntl-partial-abc"), b"half a checkpoint").unwrap();
        let lock = RunLock::acquire(&run).unwrap();
        assert!(
            !run.join(".lntl-partial-abc").exists(),
            "interrupted writes are cleaned"
        );
        let err = format!("{:#}", RunLock::acquire(&run).unwrap_err());
        assert!(err.contains(&std::process::id().to_string()), "{err}");
        drop(lock);
        assert!(!run.join(LOCK_FILE).exists());
        // A lock left by a process that no longer exists (PIDs are below 2^22 on Linux).
        std::fs::write(run.join(LOCK_FILE), format!("{} 4294967\n", host_name())).unwrap();
        let taken = RunLock::acquire(&run).unwrap();
        assert!(
            std::fs::read_to_string(run.join(LOCK_FILE))
                .unwrap()
                .contains(&std::process::id().to_string())
        );
        drop(taken);
        // Another host's lock cannot be checked, so it is respected.
        std::fs::write(run.join(LOCK_FILE), "elsewhere 1\n").unwrap();
        let err = format!("{:#}", RunLock::acquire(&run).unwrap_err());
        assert!(err.contains("elsewhere"), "{err}");
        assert_eq!(live_holder(&run).as_deref(), Some("process 1 on elsewhere"));
        std::fs::write(run.join(LOCK_FILE), format!("{} 4294967\n", host_name())).unwrap();
        assert_eq!(live_holder(&run), None, "a dead owner holds nothing");
    }
}
