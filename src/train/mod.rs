//! Training runs and evaluation: the loop over epochs, checkpoints, logs, and the measurements
//! that show whether the bias was unlearned.

pub mod checkpoint;
pub mod config;
pub mod confusion;
pub mod evaluate;
pub mod figures;
pub mod group_accuracy;
pub mod leakage;
pub mod lff_model;
pub mod lff_run;
pub mod metrics_log;
pub mod model;
pub mod progress;
pub mod protocol;
pub mod rerun;
pub mod result;
pub mod run;
pub mod run_lock;
pub mod tensorboard;
