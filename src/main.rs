//! The `lntl` binary: all logic lives in the library.

use std::process::ExitCode;

// A training step allocates and frees the same large buffers every iteration; mimalloc keeps
// those pages mapped, where glibc's malloc returns them to the kernel and faults them back in.
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
