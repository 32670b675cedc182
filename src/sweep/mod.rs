//! `lntl sweep`: the σ² table as a grid of standard runs (σ² × method × seed under one
//! protocol) that resumes where it stopped, runs several cells at once on this machine, or
//! prints one command per cell for a scheduler (xargs -P, GNU parallel, a Slurm job array).

pub mod grid;
pub mod runner;
