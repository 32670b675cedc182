//! Running the `lntl` binary from a test.

use std::ffi::OsStr;
use std::process::{Command, Output};

/// Runs `lntl` with `args` and returns what it printed, whatever its exit status.
pub fn lntl_output<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lntl"))
        .args(args)
        .output()
        .expect("the lntl binary runs")
}

/// Runs `lntl` with `args`, fails the test with its standard error unless it succeeds, and
/// returns its standard output.
pub fn lntl_ok<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> String {
    let out = lntl_output(args);
    assert!(
        out.status.success(),
        "lntl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("lntl prints UTF-8")
}
