//! `lntl sweep`: a table as a grid of standard runs (LNTL's σ² × method × seed under one
//! protocol, or LfF's conflict ratio × method × seed) that resumes where it stopped, runs
//! several cells at once on this machine, or prints one command per cell for a scheduler
//! (xargs -P, GNU parallel, a Slurm job array).

pub mod grid;
pub mod lff_grid;
pub mod plan;
pub mod runner;
