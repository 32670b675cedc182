//! Ctrl-C (SIGINT) as a request to stop at the next clean point: the training loop checks
//! [`requested`] between batches and ends with [`Interrupted`], which the command line turns into
//! a one-line "interrupted …; resume with: …" and exit status 130, after the run's lock is
//! released. A second Ctrl-C exits at once.

use std::sync::atomic::{AtomicBool, Ordering};
use thiserror::Error;

static REQUESTED: AtomicBool = AtomicBool::new(false);

/// The error of a command stopped by Ctrl-C; its text is what the user is told.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct Interrupted(pub String);

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    // An error means a handler is installed already (tests run several commands per process).
    let _ = ctrlc::set_handler(|| {
        if REQUESTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
}

/// Whether Ctrl-C was pressed.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}
