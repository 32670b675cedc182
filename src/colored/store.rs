//! Our own dataset file: one safetensors file per (σ², seed) with the images, labels, the color
//! class of each image and the plain test digits, plus a header (format version, σ², seed,
//! jitter rule, checksum). It loads in a single read.

use crate::colored::dataset::{ColoredMnist, ColoredSplit};
use crate::colored::jitter::JitterRule;
use crate::data::mnist::{CLASSES, SIDE};
use crate::util::tensor_file::TensorFile;
use anyhow::{Context, Result, ensure};
use std::path::Path;

const KIND: &str = "lntl-colored-mnist";
const VERSION: u32 = 1;

fn put_split(file: &mut TensorFile, prefix: &str, split: &ColoredSplit) {
    let n = split.len();
    file.put_u8(
        &format!("{prefix}_images"),
        &[n, SIDE, SIDE, 3],
        split.images.clone(),
    );
    file.put_u8(&format!("{prefix}_labels"), &[n], split.labels.clone());
    if let Some(classes) = &split.color_classes {
        file.put_u8(&format!("{prefix}_color_classes"), &[n], classes.clone());
    }
}

fn check_classes(values: &[u8], what: &str, path: &Path) -> Result<()> {
    if let Some((i, v)) = values
        .iter()
        .enumerate()
        .find(|(_, v)| usize::from(**v) >= CLASSES)
    {
        anyhow::bail!("{}: {what}[{i}] = {v} is outside 0..9", path.display());
    }
    Ok(())
}

fn take_split(file: &mut TensorFile, prefix: &str) -> Result<ColoredSplit> {
    let labels_name = format!("{prefix}_labels");
    let n = file
        .tensors
        .get(&labels_name)
        .map(|t| t.shape.first().copied().unwrap_or(0))
        .with_context(|| format!("{}: tensor '{labels_name}' is missing", file.path.display()))?;
    let labels = file.take_u8(&labels_name, &[n])?;
    check_classes(&labels, &labels_name, &file.path)?;
    let images = file.take_u8(&format!("{prefix}_images"), &[n, SIDE, SIDE, 3])?;
    let classes_name = format!("{prefix}_color_classes");
    let color_classes = if file.tensors.contains_key(&classes_name) {
        let c = file.take_u8(&classes_name, &[n])?;
        check_classes(&c, &classes_name, &file.path)?;
        Some(c)
    } else {
        None
    };
    Ok(ColoredSplit {
        images,
        labels,
        color_classes,
    })
}

/// Writes `data` to `path` atomically.
pub fn save(data: &ColoredMnist, path: &Path) -> Result<()> {
    let mut file = TensorFile::new(KIND, VERSION);
    file.metadata
        .insert("variance".into(), format!("{}", data.variance));
    if let Some(seed) = data.seed {
        file.metadata.insert("seed".into(), seed.to_string());
    }
    if let Some(jitter) = data.jitter {
        file.metadata.insert("jitter".into(), jitter.name().into());
    }
    put_split(&mut file, "train", &data.train);
    put_split(&mut file, "test", &data.test);
    file.put_u8(
        "test_gray",
        &[data.test.len(), SIDE, SIDE],
        data.test_gray.clone(),
    );
    file.write(path)
}

/// Reads a dataset written by [`save`], checking the header, shapes, labels and checksum.
pub fn load(path: &Path) -> Result<ColoredMnist> {
    let mut file = TensorFile::read(path, KIND, VERSION)?;
    let name = path.display();
    let variance: f64 = file
        .meta("variance")?
        .parse()
        .with_context(|| format!("{name}: unreadable variance in the header"))?;
    ensure!(
        variance.is_finite() && variance >= 0.0,
        "{name}: invalid variance {variance}"
    );
    let seed = match file.metadata.get("seed") {
        Some(s) => Some(
            s.parse()
                .with_context(|| format!("{name}: unreadable seed"))?,
        ),
        None => None,
    };
    let jitter = match file.metadata.get("jitter") {
        Some(s) => Some(
            JitterRule::from_name(s)
                .with_context(|| format!("{name}: unknown jitter rule '{s}' in the header"))?,
        ),
        None => None,
    };
    let train = take_split(&mut file, "train")?;
    let test = take_split(&mut file, "test")?;
    let test_gray = file.take_u8("test_gray", &[test.len(), SIDE, SIDE])?;
    Ok(ColoredMnist {
        variance,
        seed,
        jitter,
        train,
        test,
        test_gray,
    })
}
