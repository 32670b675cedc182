//! `lntl export`: a checkpoint's networks in another framework's format.

use crate::models::pytorch_export::{pytorch_state, write_safetensors};
use crate::train::checkpoint::{Restore, load_checkpoint, restore};
use crate::train::model::Model;
use crate::train::run::CHECKPOINT_FILE;
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
    let path = if args.checkpoint.is_dir() {
        args.checkpoint.join(CHECKPOINT_FILE)
    } else {
        args.checkpoint.clone()
    };
    let mut checkpoint = load_checkpoint(&path)?;
    let mut model = Model::new(checkpoint.config.seed);
    restore(&mut checkpoint, &mut model, Restore::Weights)?;
    match args.format {
        ExportFormat::Pytorch => {
            let state = pytorch_state(&mut model.net, &model.heads);
            write_safetensors(&state, &args.out)?;
            let heads = if checkpoint.config.method.uses_heads() {
                "the color heads"
            } else {
                "freshly initialized color heads (a run of this method has none)"
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
