//! Atomic file writes: write to a temporary file in the destination directory, then rename.
//!
//! A reader never sees a half-written dataset or checkpoint, and an interrupted write leaves the
//! previous file (if any) untouched.

use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::Path;

/// Name prefix of the temporary files of writes in progress.
pub const PARTIAL_PREFIX: &str = ".lntl-partial-";

/// Removes the temporary files that interrupted writes left in `dir` (not below it); returns how
/// many. Only for a directory whose writer holds it alone (a locked run directory).
pub fn remove_partial_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", dir.display())),
    };
    for entry in entries {
        let path = entry
            .with_context(|| format!("{}: cannot list", dir.display()))?
            .path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(PARTIAL_PREFIX))
        {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Creates `path` atomically with the bytes that `write` produces.
///
/// Errors name the file: a missing or unwritable directory, a full disk, or an error from `write`.
pub fn write_atomic<F>(path: &Path, write: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> Result<()>,
{
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{}: cannot create the output directory", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .with_context(|| format!("{}: the output directory is not writable", dir.display()))?;
    {
        let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
        write(&mut out).with_context(|| format!("{}: writing failed", path.display()))?;
        out.flush()
            .with_context(|| format!("{}: writing failed", path.display()))?;
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("{}: syncing failed", path.display()))?;
    // Temporary files are created private (0600); a dataset or checkpoint is an ordinary file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("{}: cannot set permissions", path.display()))?;
    }
    tmp.persist(path).with_context(|| {
        format!(
            "{}: cannot move the finished file into place",
            path.display()
        )
    })?;
    Ok(())
}

/// Writes `bytes` to `path` atomically.
pub fn write_bytes_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, |w| Ok(w.write_all(bytes)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_replaces_without_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/file.bin");
        write_bytes_atomic(&path, b"first").unwrap();
        write_bytes_atomic(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let entries: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file may be left behind");
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file.bin");
        write_bytes_atomic(&path, b"good").unwrap();
        let err = write_atomic(&path, |_| anyhow::bail!("interrupted")).unwrap_err();
        assert!(format!("{err:#}").contains("file.bin"));
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
    }

    #[test]
    fn unwritable_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, b"x").unwrap();
        let err = write_bytes_atomic(&blocker.join("out.bin"), b"x").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("not-a-dir"), "{msg}");
    }
}
