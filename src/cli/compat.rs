//! The command lines of the two implementations we replace keep working:
//! `lntl --phase=train --data_dir=…/mnist_10color_jitter_var_0.020.npy --max_epoch=100
//! --batch_size=128 --lr=0.001 --loss_lambda=0.01 [--train_baseline]` (the TensorFlow port),
//! `lntl --phase=test --data_dir=… --batch_size=128`, and the official code's
//! `--color_var 0.020 --data_dir DIR [-e NAME --save_dir DIR --use_pretrain --checkpoint P]`.
//! They are translated into `lntl train` / `lntl test` arguments before parsing. Flags that have
//! no meaning here (`--cuda`, `--num_workers`, `--log_step`, `--save_step`, …) are accepted and
//! ignored.

use crate::train::run::CHECKPOINT_FILE;
use anyhow::{Context, Result, bail};
use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

const VALUE_FLAGS: [&str; 28] = [
    "phase",
    "ckpt_dir",
    "log_dir",
    "image_size",
    "input_c_dim",
    "dim_class",
    "dim_bias",
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

/// Flags only the originals' command lines use: any of them, or `-e`, selects this form.
const ORIGINAL_MARKERS: [&str; 6] = [
    "--phase",
    "--color_var",
    "--is_train",
    "--train_baseline",
    "--data_split",
    "--use_pretrain",
];

/// Whether `args` use the originals' interface: the TensorFlow port's `--phase` or the
/// official scripts' flags.
pub fn is_legacy(args: &[OsString]) -> bool {
    args.iter().skip(1).any(|a| {
        a.to_str().is_some_and(|s| {
            s == "-e"
                || ORIGINAL_MARKERS
                    .iter()
                    .any(|m| s == *m || s.strip_prefix(m).is_some_and(|r| r.starts_with('=')))
        })
    })
}

/// The phase an original command line asks for: `--phase`, else the official `main.py`'s rule
/// (train with `--is_train` or `--train_baseline`, evaluate otherwise).
fn phase(flags: &HashMap<String, String>) -> &str {
    match flags.get("phase") {
        Some(phase) => phase,
        None if flags.contains_key("is_train") || flags.contains_key("train_baseline") => "train",
        None => "test",
    }
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

/// The newest `checkpoint.safetensors` in the run directories under `dir`: what the TensorFlow
/// port's test phase restores (`tf.train.latest_checkpoint(ckpt_dir)`), whatever the method.
fn latest_checkpoint(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).with_context(|| {
        format!(
            "{}: no checkpoint directory; train first (--phase=train)",
            dir.display()
        )
    })?;
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let file = entry.path().join(CHECKPOINT_FILE);
        let Ok(modified) = std::fs::metadata(&file).and_then(|m| m.modified()) else {
            continue;
        };
        if newest.as_ref().is_none_or(|(t, _)| modified > *t) {
            newest = Some((modified, entry.path()));
        }
    }
    newest.map(|(_, run)| run).with_context(|| {
        format!(
            "{}: holds no checkpoint; train first (--phase=train)",
            dir.display()
        )
    })
}

/// Translates an original command line into `lntl train …` or `lntl test …`. The official form
/// names its run (`-e NAME`, under `--save_dir`); the TensorFlow port's keeps its runs in
/// `--ckpt_dir` (here one run directory per method and dataset) and its logs in `--log_dir`.
pub fn translate(args: &[OsString]) -> Result<Vec<OsString>> {
    let flags = parse(args)?;
    let data = data_file(&flags)?;
    let method = if flags.contains_key("train_baseline") {
        "baseline"
    } else {
        "lntl"
    };
    if let Some(bins) = flags.get("dim_bias").filter(|b| b.as_str() != "8") {
        eprintln!("--dim_bias {bins} ignored: lntl uses the paper's 8 color bins");
    }
    let mut out: Vec<String> = vec![args[0].to_string_lossy().into_owned()];
    let flag = |name: &str, default: &str| {
        PathBuf::from(flags.get(name).map(String::as_str).unwrap_or(default))
    };
    let stem = data
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let tensorflow_run = format!("{method}_{stem}");
    let run_dir = match flags.get("exp_name") {
        Some(name) => flag("save_dir", "./checkpoint/").join(name),
        None => flag("ckpt_dir", "./checkpoint/").join(&tensorflow_run),
    };
    match phase(&flags) {
        "train" => {
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
            out.extend(["--run-dir".into(), run_dir.display().to_string()]);
            if !flags.contains_key("exp_name") {
                // The port resumes from its checkpoint directory when run again.
                let logs = flag("log_dir", "./logs/").join(&tensorflow_run);
                out.extend([
                    "--resume-or-start".into(),
                    "--tensorboard-dir".into(),
                    logs.display().to_string(),
                ]);
            }
        }
        "test" => {
            let checkpoint = match (flags.get("checkpoint"), flags.contains_key("exp_name")) {
                (Some(c), _) => PathBuf::from(c),
                (None, true) => run_dir.clone(),
                (None, false) => latest_checkpoint(&flag("ckpt_dir", "./checkpoint/"))?,
            };
            out.extend([
                "test".into(),
                "--checkpoint".into(),
                checkpoint.display().to_string(),
                "--data".into(),
                data.display().to_string(),
            ]);
            if flags.contains_key("exp_name") {
                // The authors' evaluation logs into its experiment's directory, whatever
                // checkpoint it evaluates.
                out.extend(["--out".into(), run_dir.join("test").display().to_string()]);
            }
        }
        other => bail!("--phase must be train or test, not {other}"),
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
            "lntl train --method lntl --data ./dataset/colored-mnist/mnist_10color_jitter_var_0.020.npy --epochs 100 --batch-size 128 --lr 0.001 --loss-lambda 0.01 --run-dir ./checkpoint/lntl_mnist_10color_jitter_var_0.020 --resume-or-start --tensorboard-dir ./logs/lntl_mnist_10color_jitter_var_0.020"
        );
        let baseline = joined(
            translate(&words(
                "lntl --phase=train --data_dir=d/x.npy --train_baseline",
            ))
            .unwrap(),
        );
        assert!(baseline.contains("--method baseline"), "{baseline}");
        // Test restores the newest run in --ckpt_dir, whatever its method.
        let dir = tempfile::tempdir().unwrap();
        let ckpt = dir.path().display().to_string();
        let test_line =
            format!("lntl --phase=test --data_dir=d/x.npy --batch_size=128 --ckpt_dir={ckpt}");
        assert!(
            translate(&words(&test_line)).is_err(),
            "nothing trained yet"
        );
        for run in ["baseline_x", "lntl_x"] {
            std::fs::create_dir_all(dir.path().join(run)).unwrap();
            std::fs::write(dir.path().join(run).join(CHECKPOINT_FILE), b"").unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let test = joined(translate(&words(&test_line)).unwrap());
        assert_eq!(
            test,
            format!("lntl test --checkpoint {ckpt}/lntl_x --data d/x.npy")
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

    /// The authors' three scripts, verbatim after `python main.py`.
    #[test]
    fn official_scripts_run_without_phase() {
        let scripts = [
            "lntl -e baseline_0.02  --color_var 0.020 --lr 0.01 --cuda --train_baseline --data_split train",
            "lntl -e unlearn_0.02  --color_var 0.020 --lr 0.001 --use_pretrain --checkpoint path/to/pretrained/model.pth --cuda --is_train --data_split train",
            "lntl -e unlearn_0.02  --color_var 0.020 --lr 0.001 --checkpoint checkpoint/unlearn_0.02/checkpoint_step_0090.pth --cuda --data_split test",
        ];
        for line in scripts {
            assert!(is_legacy(&words(line)), "{line}");
        }
        let [baseline, unlearn, test] =
            scripts.map(|line| joined(translate(&words(line)).unwrap()));
        assert_eq!(
            baseline,
            "lntl train --method baseline --data ./dataset/mnist_10color_jitter_var_0.020.npy --lr 0.01 --run-dir ./checkpoint/baseline_0.02"
        );
        assert_eq!(
            unlearn,
            "lntl train --method lntl --data ./dataset/mnist_10color_jitter_var_0.020.npy --lr 0.001 --init-from path/to/pretrained/model.pth --init-lr-from-checkpoint --run-dir ./checkpoint/unlearn_0.02"
        );
        assert_eq!(
            test,
            "lntl test --checkpoint checkpoint/unlearn_0.02/checkpoint_step_0090.pth --data ./dataset/mnist_10color_jitter_var_0.020.npy --out ./checkpoint/unlearn_0.02/test"
        );
        // Our own command lines are not taken for the originals'.
        assert!(!is_legacy(&words(
            "lntl train --method lntl --var 0.020 -v"
        )));
        assert!(!is_legacy(&words("lntl data make --var 0.020")));
    }

    #[test]
    fn unknown_flags_and_phases_are_errors() {
        assert!(translate(&words("lntl --phase=train --bogus=1")).is_err());
        assert!(translate(&words("lntl --phase=evaluate")).is_err());
        assert!(translate(&words("lntl --phase=train --lr")).is_err());
    }
}
