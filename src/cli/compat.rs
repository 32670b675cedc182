//! The command lines of the two implementations we replace keep working:
//! `lntl --phase=train --data_dir=…/mnist_10color_jitter_var_0.020.npy --max_epoch=100
//! --batch_size=128 --lr=0.001 --loss_lambda=0.01 [--train_baseline]` (the TensorFlow port),
//! `lntl --phase=test --data_dir=… --batch_size=128`, and the official code's
//! `--color_var 0.020 --data_dir DIR [-e NAME --save_dir DIR --use_pretrain --checkpoint P]`.
//! They are translated into `lntl train` / `lntl test` arguments before parsing. Flags that have
//! no meaning here (`--cuda`, `--num_workers`, `--log_step`, `--save_step`, …) are accepted and
//! ignored.

use anyhow::{Result, bail};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;

const VALUE_FLAGS: [&str; 22] = [
    "phase",
    "data_dir",
    "color_var",
    "max_epoch",
    "max_step",
    "batch_size",
    "lr",
    "loss_lambda",
    "checkpoint",
    "exp_name",
    "save_dir",
    "lr_decay_rate",
    "lr_decay_period",
    "momentum",
    "weight_decay",
    "random_seed",
    "seed",
    "num_workers",
    "log_step",
    "save_step",
    "n_class",
    "data_split",
];
const SWITCHES: [&str; 5] = [
    "train_baseline",
    "use_pretrain",
    "cuda",
    "debug",
    "is_train",
];

/// Whether `args` use the originals' `--phase` interface.
pub fn is_legacy(args: &[OsString]) -> bool {
    args.iter().any(|a| {
        a.to_str()
            .is_some_and(|s| s == "--phase" || s.starts_with("--phase="))
    })
}

fn parse(args: &[OsString]) -> Result<HashMap<String, String>> {
    let mut flags = HashMap::new();
    let mut it = args
        .iter()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = it.next() {
        let body = match arg.strip_prefix("--") {
            Some(b) => b.to_string(),
            None if arg == "-e" => "exp_name".to_string(),
            None => bail!("unexpected argument '{arg}' in the original command-line form"),
        };
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (body, None),
        };
        if SWITCHES.contains(&name.as_str()) {
            flags.insert(name, "true".into());
        } else if VALUE_FLAGS.contains(&name.as_str()) {
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--{name} needs a value"))?,
            };
            flags.insert(name, value);
        } else {
            bail!("--{name} is not a flag of the original command line (see `lntl train --help`)");
        }
    }
    Ok(flags)
}

/// The dataset file the original flags name: `--data_dir` itself when it is a file, else the
/// authors' file for `--color_var` inside it.
fn data_file(flags: &HashMap<String, String>) -> Result<PathBuf> {
    let dir = PathBuf::from(
        flags
            .get("data_dir")
            .map(String::as_str)
            .unwrap_or("./dataset/"),
    );
    if dir.extension().is_some_and(|e| e == "npy") {
        return Ok(dir);
    }
    let var: f64 = flags
        .get("color_var")
        .map(String::as_str)
        .unwrap_or("0.03")
        .parse()?;
    Ok(dir.join(format!("mnist_10color_jitter_var_{var:.3}.npy")))
}

/// Translates an original command line into `lntl train …` or `lntl test …`.
pub fn translate(args: &[OsString]) -> Result<Vec<OsString>> {
    let flags = parse(args)?;
    let data = data_file(&flags)?;
    let method = if flags.contains_key("train_baseline") {
        "baseline"
    } else {
        "lntl"
    };
    let mut out: Vec<String> = vec![args[0].to_string_lossy().into_owned()];
    let run_dir = flags.get("exp_name").map(|name| {
        PathBuf::from(
            flags
                .get("save_dir")
                .map(String::as_str)
                .unwrap_or("./checkpoint/"),
        )
        .join(name)
    });
    match flags.get("phase").map(String::as_str) {
        Some("train") => {
            out.extend([
                "train".into(),
                "--method".into(),
                method.into(),
                "--data".into(),
                data.display().to_string(),
            ]);
            let renames = [
                ("max_epoch", "--epochs"),
                ("max_step", "--epochs"),
                ("batch_size", "--batch-size"),
                ("lr", "--lr"),
                ("loss_lambda", "--loss-lambda"),
                ("lr_decay_rate", "--lr-decay-rate"),
                ("lr_decay_period", "--lr-decay-period"),
                ("momentum", "--momentum"),
                ("weight_decay", "--weight-decay"),
                ("random_seed", "--seed"),
                ("seed", "--seed"),
            ];
            for (old, new) in renames {
                if let Some(v) = flags.get(old) {
                    out.extend([new.to_string(), v.clone()]);
                }
            }
            if let (Some(ckpt), true) =
                (flags.get("checkpoint"), flags.contains_key("use_pretrain"))
            {
                out.extend([
                    "--init-from".into(),
                    ckpt.clone(),
                    "--init-lr-from-checkpoint".into(),
                ]);
            }
            if let Some(dir) = run_dir {
                out.extend(["--run-dir".into(), dir.display().to_string()]);
            }
        }
        Some("test") => {
            let checkpoint = match (flags.get("checkpoint"), run_dir) {
                (Some(c), _) => PathBuf::from(c),
                (None, Some(dir)) => dir,
                (None, None) => super::train::default_run_dir(
                    if method == "baseline" {
                        crate::train::config::Method::Baseline
                    } else {
                        crate::train::config::Method::Lntl
                    },
                    &crate::train::config::DatasetChoice::File(data.clone()),
                    None,
                    0,
                ),
            };
            out.extend([
                "test".into(),
                "--checkpoint".into(),
                checkpoint.display().to_string(),
                "--data".into(),
                data.display().to_string(),
            ]);
        }
        other => bail!(
            "--phase must be train or test, not {}",
            other.unwrap_or("(missing)")
        ),
    }
    Ok(out.into_iter().map(OsString::from).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    fn joined(v: Vec<OsString>) -> String {
        v.iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn tensorflow_port_train_and_test() {
        let train = translate(&words(
            "lntl --phase=train --data_dir=./dataset/colored-mnist/mnist_10color_jitter_var_0.020.npy --max_epoch=100 --batch_size=128 --lr=0.001 --loss_lambda=0.01",
        ))
        .unwrap();
        assert_eq!(
            joined(train),
            "lntl train --method lntl --data ./dataset/colored-mnist/mnist_10color_jitter_var_0.020.npy --epochs 100 --batch-size 128 --lr 0.001 --loss-lambda 0.01"
        );
        let baseline = joined(
            translate(&words(
                "lntl --phase=train --data_dir=d/x.npy --train_baseline",
            ))
            .unwrap(),
        );
        assert!(baseline.contains("--method baseline"), "{baseline}");
        let test = joined(translate(&words("lntl --phase=test --data_dir=d/mnist_10color_jitter_var_0.020.npy --batch_size=128")).unwrap());
        assert_eq!(
            test,
            "lntl test --checkpoint runs/lntl_mnist_10color_jitter_var_0.020 --data d/mnist_10color_jitter_var_0.020.npy"
        );
    }

    #[test]
    fn official_form_picks_the_file_by_variance() {
        let train = joined(
            translate(&words(
                "lntl -e unlearn --color_var 0.020 --data_dir DIR --phase train --use_pretrain --checkpoint base.safetensors --cuda",
            ))
            .unwrap(),
        );
        assert!(
            train.contains("--data DIR/mnist_10color_jitter_var_0.020.npy"),
            "{train}"
        );
        assert!(train.contains("--init-from base.safetensors"), "{train}");
        assert!(train.contains("--run-dir ./checkpoint/unlearn"), "{train}");
    }

    #[test]
    fn unknown_flags_and_phases_are_errors() {
        assert!(translate(&words("lntl --phase=train --bogus=1")).is_err());
        assert!(translate(&words("lntl --phase=evaluate")).is_err());
        assert!(translate(&words("lntl --phase=train --lr")).is_err());
    }
}
