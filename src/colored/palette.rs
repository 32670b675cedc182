//! The ten mean digit colors of Colored-MNIST (docs/SPEC.md §1), RGB in 0..255, by class.

/// Mean color of each digit class 0..9.
pub const PALETTE: [[u8; 3]; 10] = [
    [220, 20, 60],
    [0, 128, 128],
    [253, 233, 16],
    [0, 149, 182],
    [237, 145, 33],
    [145, 30, 188],
    [70, 240, 240],
    [250, 197, 187],
    [210, 245, 60],
    [128, 0, 0],
];

/// The seven variances σ² of the paper's table.
pub const PAPER_VARIANCES: [f64; 7] = [0.020, 0.025, 0.030, 0.035, 0.040, 0.045, 0.050];

/// A warning for σ² outside the paper's 0.020–0.050 (0.2 for 0.020 is an easy slip, and it
/// builds a dataset without the bias the benchmark is about), or `None` inside it.
pub fn outside_paper_range(variance: f64) -> Option<String> {
    let (low, high) = (PAPER_VARIANCES[0], PAPER_VARIANCES[6]);
    (!(low - 1e-9..=high + 1e-9).contains(&variance)).then(|| {
        format!(
            "warning: σ² = {variance} is outside the paper's range {low:.3}–{high:.3}; \
             the paper's values are 0.020, 0.025, …, 0.050"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_variances_outside_the_papers_range_warn() {
        for v in PAPER_VARIANCES {
            assert_eq!(outside_paper_range(v), None, "{v}");
        }
        for v in [0.0, 0.019, 0.051, 0.2] {
            assert!(outside_paper_range(v).unwrap().contains("outside"), "{v}");
        }
    }

    /// The palette against the table in docs/SPEC.md §1, typed from the authors' code.
    #[test]
    fn palette_matches_the_specification() {
        let spec = include_str!("../../docs/SPEC.md");
        let row = spec
            .lines()
            .find(|l| l.trim_start().starts_with("| RGB |"))
            .expect("docs/SPEC.md lists the palette");
        let colors: Vec<[u8; 3]> = row
            .split('|')
            .skip(2)
            .filter(|cell| !cell.trim().is_empty())
            .map(|cell| {
                let channels: Vec<u8> =
                    cell.split(',').map(|v| v.trim().parse().unwrap()).collect();
                channels.try_into().unwrap()
            })
            .collect();
        assert_eq!(colors, PALETTE);
    }
}
