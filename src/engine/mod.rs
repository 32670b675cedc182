//! A small CPU training engine for the paper's networks, in the style of llm.c: every layer has
//! a plain forward and a hand-written backward side by side, on contiguous f32 buffers in NHWC
//! layout (channels last). Matrix products go to the `gemm` crate; parallelism to rayon.

pub mod adam;
pub mod batch_norm;
pub mod channel_affine;
pub mod conv;
pub mod cross_entropy;
pub mod global_avg_pool;
pub mod grad_reversal;
pub mod init;
pub mod input_stem;
pub mod lanes;
pub mod linear;
pub mod matmul;
pub mod max_pool;
pub mod neg_entropy;
pub mod param;
pub mod relu;
pub mod sgd;
pub mod softmax;
pub mod tensor;
pub mod unfused;
pub mod uniform_confusion;
pub mod weighted_cross_entropy;
