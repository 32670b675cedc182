//! `lntl export`: a checkpoint's networks in another framework's format.

use crate::models::pytorch_export::{pytorch_state, write_safetensors};
use crate::train::checkpoint::{Trained, load_trained};
use anyhow::Result;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// Formats `lntl export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A safetensors state dict with the authors' module names and PyTorch's layouts, for
    /// `tools/lntl_networks.py` (`LntlNetworks().load_state_dict(load_file(FILE))`).
    Pytorch,
}

/// Flags of `lntl export`.
#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Checkpoint to export (a file, or a run directory holding checkpoint.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// The format.
    #[arg(long, value_enum, default_value = "pytorch")]
    pub format: ExportFormat,
    /// The file to write.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `lntl export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    let Trained {
        config, mut model, ..
    } = load_trained(&args.checkpoint)?;
    match args.format {
        ExportFormat::Pytorch => {
            let state = pytorch_state(&mut model.net, &model.heads);
            write_safetensors(&state, &args.out)?;
            let heads = match config {
                Some(c) if c.method.uses_heads() => "the color heads",
                Some(_) => "freshly initialized color heads (a run of this method has none)",
                None => "freshly initialized color heads (the authors' checkpoints hold none)",
            };
            println!(
                "wrote {}: {} tensors, f and g as `net`, {heads} as `pred_net_r/g/b`, in \
                 PyTorch's layout; load them with tools/lntl_networks.py",
                args.out.display(),
                state.len()
            );
        }
    }
    Ok(())
}
