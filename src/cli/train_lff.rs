//! `lntl train --benchmark lff`: one run on LfF's Colored-MNIST (docs/LFF.md), generated from
//! the cached MNIST; its flags are the σ² benchmark's where they mean the same thing.

use super::data::cached_mnist;
use super::log;
use super::train::TrainArgs;
use crate::data::mnist::TRAIN_LEN;
use crate::lff_colored::generate::{VALIDATION_DIGITS, generate, generate_validation};
use crate::train::config::CONFIG_FILE;
use crate::train::lff_model::LffMethod;
use crate::train::lff_run::{LffConfig, LffResult, lff_cell_dir, train_lff};
use crate::train::result::{RESULT_FILE, current_command};
use crate::train::run::CHECKPOINT_FILE;
use crate::train::run_lock::RunLock;
use crate::util::interrupt::Interrupted;
use anyhow::{Context, Result, bail, ensure};
use std::path::Path;

/// The flags of `lntl train` that only LNTL's benchmark has, when given.
fn lntl_only_flags(args: &TrainArgs) -> Vec<&'static str> {
    [
        (args.protocol.is_some(), "--protocol"),
        (args.data.data.is_some(), "--data"),
        (args.data.var.is_some(), "--var"),
        (args.data.jitter.is_some(), "--jitter"),
        (args.lr_decay_rate.is_some(), "--lr-decay-rate"),
        (args.lr_decay_period.is_some(), "--lr-decay-period"),
        (args.momentum.is_some(), "--momentum"),
        (args.optimizer.is_some(), "--optimizer"),
        (args.weight_decay.is_some(), "--weight-decay"),
        (args.legacy_zero_grad, "--legacy-zero-grad"),
        (args.heads_warmup_epochs.is_some(), "--heads-warmup-epochs"),
        (args.init_from.is_some(), "--init-from"),
        (args.tensorboard_dir.is_some(), "--tensorboard-dir"),
        (args.ensure_checkpoint, "--ensure-checkpoint"),
        (args.train_limit.is_some(), "--train-limit"),
        (args.leakage_images.is_some(), "--leakage-images"),
    ]
    .into_iter()
    .filter_map(|(given, flag)| given.then_some(flag))
    .collect()
}

/// The method `--method` names on LfF's benchmark (LfF when not given).
fn lff_method(args: &TrainArgs) -> Result<LffMethod> {
    match args.method {
        None => Ok(LffMethod::Lff),
        Some(name) => name.on_lff_benchmark().with_context(|| {
            format!(
                "--method {} is not a method of LfF's benchmark (vanilla, lff, groupdro or lntl)",
                name.name()
            )
        }),
    }
}

/// The run these flags ask for on LfF's benchmark.
fn lff_config(args: &TrainArgs) -> Result<LffConfig> {
    let method = lff_method(args)?;
    let ratio = args.conflict_ratio.context(
        "--benchmark lff needs --conflict-ratio R (LfF's table: 0.05, 0.02, 0.01, 0.005)",
    )?;
    let mut config = LffConfig::lff_protocol(method, ratio, args.seed.unwrap_or(0));
    apply(args, &mut config)?;
    Ok(config)
}

/// The stored run of `run_dir` for `--resume`: its settings, `--epochs` extending it; other
/// flags may be repeated but not changed.
fn resumed_config(args: &TrainArgs, run_dir: &Path) -> Result<LffConfig> {
    let path = run_dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot resume: {} is missing", path.display()))?;
    let stored: LffConfig = serde_json::from_str(&text)
        .with_context(|| format!("{}: not an LfF run's configuration", path.display()))?;
    let mut wanted = LffConfig {
        method: if args.method.is_some() {
            lff_method(args)?
        } else {
            stored.method
        },
        conflict_ratio: args.conflict_ratio.unwrap_or(stored.conflict_ratio),
        seed: args.seed.unwrap_or(stored.seed),
        ..stored.clone()
    };
    apply(args, &mut wanted)?;
    ensure!(
        LffConfig {
            epochs: stored.epochs,
            ..wanted.clone()
        } == stored,
        "{}: the run was made with other settings than these flags give; resume it without \
         them (only --epochs may change)",
        path.display()
    );
    Ok(wanted)
}

/// Applies the flags other than the method, ratio and seed.
fn apply(args: &TrainArgs, config: &mut LffConfig) -> Result<()> {
    if let Some(v) = args.severity {
        config.severity = v;
    }
    if let Some(v) = args.data.data_seed {
        config.data_seed = v;
    }
    if let Some(v) = args.epochs {
        config.epochs = v as usize;
    }
    if let Some(v) = args.batch_size {
        config.batch_size = v as usize;
    }
    if let Some(v) = args.lr {
        config.lr = v;
    }
    if args.validation {
        config.validation = true;
        config.train_images = TRAIN_LEN - VALIDATION_DIGITS;
    }
    if let Some(v) = args.dro_step_size {
        ensure!(
            config.method == LffMethod::GroupDro,
            "--dro-step-size belongs to --method groupdro"
        );
        config.dro_step_size = Some(v);
    }
    for (value, flag, setting) in [
        (args.loss_lambda, "--loss-lambda", &mut config.loss_lambda),
        (args.grl_scale, "--grl-scale", &mut config.grl_scale),
    ] {
        if let Some(v) = value {
            ensure!(
                config.method == LffMethod::Lntl,
                "{flag} belongs to --method lntl"
            );
            *setting = Some(v);
        }
    }
    Ok(())
}

/// Trains (or resumes, or leaves finished) one run on LfF's benchmark.
pub fn run_train_lff(args: &TrainArgs, cache: &Path) -> Result<()> {
    let flags = lntl_only_flags(args);
    if !flags.is_empty() {
        bail!(
            "{} belong(s) to LNTL's benchmark, not to --benchmark lff",
            flags.join(", ")
        );
    }
    let run_dir = match &args.run_dir {
        Some(dir) => dir.clone(),
        None if args.resume => bail!("--resume needs --run-dir"),
        None => {
            let config = lff_config(args)?;
            lff_cell_dir(
                &Path::new("runs").join("lff"),
                config.conflict_ratio,
                config.method,
                config.seed,
            )
        }
    };
    let _lock = RunLock::acquire(&run_dir)?;
    if args.resume_or_start && run_dir.join(RESULT_FILE).is_file() {
        log(&format!("{} has finished already", run_dir.display()));
        return Ok(());
    }
    let resume = args.resume || (args.resume_or_start && run_dir.join(CHECKPOINT_FILE).is_file());
    let config = if args.resume {
        resumed_config(args, &run_dir)?
    } else {
        lff_config(args)?
    };
    let build = if config.validation {
        generate_validation
    } else {
        generate
    };
    let data = build(
        &cached_mnist(cache)?,
        config.conflict_ratio,
        config.severity,
        config.data_seed,
    )?;
    let result = match train_lff(&config, &data, &run_dir, resume, &current_command(), &log) {
        Err(e) if e.is::<Interrupted>() => {
            return Err(Interrupted(format!(
                "{e}; resume with: lntl train --benchmark lff --resume --run-dir {}",
                run_dir.display()
            ))
            .into());
        }
        result => result?,
    };
    print_result(&result);
    Ok(())
}

fn print_result(r: &LffResult) {
    println!(
        "{} at {} % bias-conflicting, seed {}: unbiased accuracy {:.4} (aligned {:.4}, \
         conflicting {:.4}) after {} steps; best epoch {} at {:.4}",
        r.method,
        r.conflict_ratio * 100.0,
        r.seed,
        r.final_accuracy.unbiased_accuracy,
        r.final_accuracy.aligned_accuracy,
        r.final_accuracy.conflicting_accuracy,
        r.steps,
        r.best_epoch,
        r.best.unbiased_accuracy
    );
}
