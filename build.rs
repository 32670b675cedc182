//! Records the commit the binary is built from (`LNTL_COMMIT`), so that every result file can
//! name it: the commit hash, with "-dirty" when the code (src, build.rs, Cargo files) differs
//! from it, or "unknown" outside git. The build reruns when the code or the checked-out commit
//! changes, so the mark stays true.

use std::process::Command;

const CODE: [&str; 4] = ["src", "build.rs", "Cargo.toml", "Cargo.lock"];

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    for path in CODE.iter().chain(&[".git/HEAD", ".git/refs/heads"]) {
        println!("cargo:rerun-if-changed={path}");
    }
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(hash) if !hash.is_empty() => {
            let mut status = vec!["status", "--porcelain", "--untracked-files=no", "--"];
            status.extend(CODE);
            match git(&status) {
                Some(changes) if changes.is_empty() => hash,
                _ => format!("{hash}-dirty"),
            }
        }
        _ => "unknown".to_string(),
    };
    println!("cargo:rustc-env=LNTL_COMMIT={commit}");
}
