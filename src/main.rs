//! The `lntl` binary: all logic lives in the library.

use std::process::ExitCode;

// A training step allocates and frees the same large buffers every iteration; mimalloc reuses
// freed pages for a while, where glibc's malloc unmaps blocks this large at once and faults them
// back in on the next use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match lntl::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
