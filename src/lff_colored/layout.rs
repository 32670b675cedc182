//! LfF's on-disk layout, so that datasets move between this tool and LfF's code:
//! `ColoredMNIST-Skewed{r}-Severity{s}/{train,valid}/images.npy` (N×28×28×3 uint8, HWC) and
//! `attrs.npy` (N×2 uint8: digit, color), plus `attr_names.pkl` (the pickled list
//! `["digit", "color"]`). `r` is written as Python prints the float (`0.01`, `0.005`).

use crate::colored::dataset::ColoredSplit;
use crate::data::mnist::{CLASSES, SIDE};
use crate::data::numpy::{npy_header, parse_npy_header};
use crate::data::pickle::{Value, pickle};
use crate::lff_colored::generate::LffColoredMnist;
use crate::util::atomic::write_atomic;
use crate::util::file_kind::describe;
use anyhow::{Context, Result, bail, ensure};
use std::path::{Path, PathBuf};

/// The directory name LfF gives a dataset.
pub fn directory_name(conflict_ratio: f64, severity: u8) -> String {
    format!("ColoredMNIST-Skewed{conflict_ratio}-Severity{severity}")
}

/// (r, severity) from a directory name of [`directory_name`]'s form.
pub fn parse_directory_name(name: &str) -> Option<(f64, u8)> {
    let rest = name.strip_prefix("ColoredMNIST-Skewed")?;
    let (ratio, severity) = rest.split_once("-Severity")?;
    Some((ratio.parse().ok()?, severity.parse().ok()?))
}

fn write_npy(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    write_atomic(path, |w| {
        w.write_all(&npy_header("|u1", shape))?;
        w.write_all(data)?;
        Ok(())
    })
}

/// Writes `data` under `root` in LfF's layout; returns the dataset's directory.
pub fn write_lff_layout(data: &LffColoredMnist, root: &Path) -> Result<PathBuf> {
    let dir = root.join(directory_name(data.conflict_ratio, data.severity));
    for (name, split) in [("train", &data.train), ("valid", &data.test)] {
        let split_dir = dir.join(name);
        std::fs::create_dir_all(&split_dir)
            .with_context(|| format!("cannot create {}", split_dir.display()))?;
        let n = split.len();
        write_npy(
            &split_dir.join("images.npy"),
            &[n, SIDE, SIDE, 3],
            &split.images,
        )?;
        let colors = split
            .color_classes
            .as_ref()
            .context("an LfF dataset records every image's color")?;
        let attrs: Vec<u8> = split
            .labels
            .iter()
            .zip(colors)
            .flat_map(|(&digit, &color)| [digit, color])
            .collect();
        write_npy(&split_dir.join("attrs.npy"), &[n, 2], &attrs)?;
    }
    let names = Value::List(vec![Value::Str("digit".into()), Value::Str("color".into())]);
    write_atomic(&dir.join("attr_names.pkl"), |w| {
        w.write_all(&pickle(&names))?;
        Ok(())
    })?;
    Ok(dir)
}

/// Reads a uint8 `.npy` file; returns its shape and bytes.
fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<u8>)> {
    let name = path.display();
    let bytes = std::fs::read(path).with_context(|| format!("{name}: cannot read"))?;
    let header = parse_npy_header(&bytes)
        .with_context(|| format!("{name}: not a .npy file (this is {})", describe(&bytes)))?;
    ensure!(
        header.descr == "|u1" && !header.fortran_order,
        "{name}: expected a C-ordered uint8 array, found dtype {}{}",
        header.descr,
        if header.fortran_order {
            " in Fortran order"
        } else {
            ""
        }
    );
    let count = header
        .shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .with_context(|| format!("{name}: shape {:?} overflows", header.shape))?;
    let data = &bytes[header.data_offset..];
    ensure!(
        data.len() == count,
        "{name}: shape {:?} needs {count} bytes, the file holds {}",
        header.shape,
        data.len()
    );
    Ok((header.shape, data.to_vec()))
}

fn read_split(dir: &Path) -> Result<ColoredSplit> {
    let (shape, images) = read_npy(&dir.join("images.npy"))?;
    let [n, h, w, 3] = shape[..] else {
        bail!(
            "{}: shape {shape:?}, expected [N, 28, 28, 3]",
            dir.join("images.npy").display()
        );
    };
    ensure!(
        h == SIDE && w == SIDE,
        "{}: {h}×{w} images, expected 28×28",
        dir.join("images.npy").display()
    );
    let attrs_path = dir.join("attrs.npy");
    let (shape, attrs) = read_npy(&attrs_path)?;
    ensure!(
        shape == [n, 2],
        "{}: shape {shape:?}, expected [{n}, 2] (digit, color per image)",
        attrs_path.display()
    );
    if let Some((i, v)) = attrs
        .iter()
        .enumerate()
        .find(|(_, v)| usize::from(**v) >= CLASSES)
    {
        bail!(
            "{}: image {} has {} {v}, outside 0..9",
            attrs_path.display(),
            i / 2,
            ["digit", "color"][i % 2]
        );
    }
    Ok(ColoredSplit {
        images,
        labels: attrs.iter().step_by(2).copied().collect(),
        color_classes: Some(attrs.iter().skip(1).step_by(2).copied().collect()),
    })
}

/// Reads a dataset in LfF's layout from its directory (`…/ColoredMNIST-Skewed{r}-Severity{s}`);
/// r and the severity come from the name, and the seed is unknown (`None`).
pub fn read_lff_layout(dir: &Path) -> Result<LffColoredMnist> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let (conflict_ratio, severity) = parse_directory_name(name).with_context(|| {
        format!(
            "{}: cannot tell r and the severity from the name (expected \
             ColoredMNIST-Skewed<r>-Severity<s>)",
            dir.display()
        )
    })?;
    Ok(LffColoredMnist {
        conflict_ratio,
        severity,
        seed: None,
        train: read_split(&dir.join("train"))?,
        test: read_split(&dir.join("valid"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_as_python_prints_the_ratio() {
        assert_eq!(directory_name(0.01, 4), "ColoredMNIST-Skewed0.01-Severity4");
        assert_eq!(
            directory_name(0.005, 4),
            "ColoredMNIST-Skewed0.005-Severity4"
        );
        assert_eq!(
            parse_directory_name("ColoredMNIST-Skewed0.05-Severity1"),
            Some((0.05, 1))
        );
        assert_eq!(parse_directory_name("ColoredMNIST-Skewed-Severity1"), None);
    }
}
