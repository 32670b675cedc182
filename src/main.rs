//! The `lntl` binary: all logic lives in the library.

use std::process::ExitCode;

fn main() -> ExitCode {
    match lntl::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
