//! The ten mean digit colors of Colored-MNIST (SPEC.md §1), RGB in 0..255, by class.

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
