//! A batch of feature maps: `data[((n·H + y)·W + x)·C + c]` (NHWC, channels last).

use rayon::prelude::*;

/// Values per parallel task in element-wise passes over whole tensors (128 KiB).
const PARALLEL_CHUNK: usize = 1 << 15;

/// An NHWC tensor of f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Batch size, height, width, channels.
    pub dims: [usize; 4],
    /// The values, NHWC.
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of zeros.
    pub fn zeros(dims: [usize; 4]) -> Tensor {
        Tensor {
            dims,
            data: vec![0.0; dims.iter().product()],
        }
    }

    /// An empty tensor, to be sized by the first forward pass that writes it.
    pub fn empty() -> Tensor {
        Tensor {
            dims: [0; 4],
            data: Vec::new(),
        }
    }

    /// Gives the tensor new dimensions, keeping its allocation when it is large enough. The
    /// values are left as they are: callers overwrite them (or clear them with
    /// [`Tensor::zero`] when they accumulate). Buffers reused this way stop a training step
    /// from paying page faults on fresh memory for every activation.
    pub fn resize(&mut self, dims: [usize; 4]) {
        self.dims = dims;
        self.data.resize(dims.iter().product(), 0.0);
    }

    /// Sets every value to 0, in parallel (a single thread clearing a φ-sized gradient would
    /// leave the other core idle).
    pub fn zero(&mut self) {
        self.data
            .par_chunks_mut(PARALLEL_CHUNK)
            .for_each(|chunk| chunk.fill(0.0));
    }

    /// Wraps `data`, checking its length.
    pub fn from_vec(dims: [usize; 4], data: Vec<f32>) -> Tensor {
        assert_eq!(
            data.len(),
            dims.iter().product::<usize>(),
            "tensor data length"
        );
        Tensor { dims, data }
    }

    /// Batch size.
    pub fn batch(&self) -> usize {
        self.dims[0]
    }

    /// Channels.
    pub fn channels(&self) -> usize {
        self.dims[3]
    }

    /// Values per batch item (H·W·C).
    pub fn item_len(&self) -> usize {
        self.dims[1] * self.dims[2] * self.dims[3]
    }

    /// Number of spatial positions in the batch (N·H·W): the rows of the channels-last matrix.
    pub fn rows(&self) -> usize {
        self.dims[0] * self.dims[1] * self.dims[2]
    }
}

/// How many batch items one parallel task takes. Fixed, never derived from the thread count:
/// the sums behind weight gradients are totalled task by task in task order, so a split that
/// followed the cores would change the bits of every result with `--threads`. 32 keeps each
/// task's matrix products large and gives a batch of 128 four tasks to share among the cores.
pub const ITEMS_PER_TASK: usize = 32;

/// A backward pass's input gradient split for its parallel tasks: when one is wanted, `grad`
/// resized to `dims` and cut into one chunk of `per_task` items per task; otherwise `None` for
/// each task, so that the tasks can be zipped with the other per-task chunks either way.
pub fn grad_chunks_per_task(
    grad: Option<&mut Tensor>,
    dims: [usize; 4],
    per_task: usize,
) -> Vec<Option<&mut [f32]>> {
    match grad {
        Some(grad) => {
            grad.resize(dims);
            let item = dims[1] * dims[2] * dims[3];
            grad.data.chunks_mut(per_task * item).map(Some).collect()
        }
        None => (0..dims[0].div_ceil(per_task)).map(|_| None).collect(),
    }
}

/// `dst += scale·src` element-wise, in parallel (for φ-sized gradients, where a single thread
/// would leave the other core idle).
pub fn add_scaled(dst: &mut Tensor, src: &Tensor, scale: f32) {
    assert_eq!(dst.dims, src.dims, "added tensors' shapes");
    dst.data
        .par_chunks_mut(PARALLEL_CHUNK)
        .zip(src.data.par_chunks(PARALLEL_CHUNK))
        .for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, s)| *d += scale * s));
}

/// `dst += src`, element by element.
pub fn add_to(dst: &mut [f32], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
}

/// Adds `row` to every row of the channels-last `data` (a bias).
pub fn add_to_rows(data: &mut [f32], row: &[f32]) {
    for dst in data.chunks_exact_mut(row.len()) {
        add_to(dst, row);
    }
}

/// Per-channel sums over every position of the channels-last `data` (a bias gradient).
pub fn sum_positions(data: &[f32], channels: usize) -> Vec<f32> {
    let mut sums = vec![0.0; channels];
    for row in data.chunks_exact(channels) {
        add_to(&mut sums, row);
    }
    sums
}
