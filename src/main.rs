//! The `lntl` binary: all logic lives in the library.

use std::process::ExitCode;

// A training step still allocates and frees the same buffers every iteration (per-task partial
// sums, the `gemm` crate's packing space; the layers keep their large ones); mimalloc reuses
// freed pages for a while, where glibc's malloc unmaps large blocks at once and faults them back
// in on the next use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    lntl::util::interrupt::install();
    match lntl::cli::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<lntl::util::interrupt::Interrupted>() => {
            eprintln!("{e}");
            // 128 + SIGINT, what a shell reports for a command Ctrl-C stopped.
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
