//! LfF's Colored-MNIST ("Learning from Failure", Nam et al., NeurIPS 2020), the benchmark most
//! later debiasing papers use, beside `colored` (LNTL's): every digit of a class is painted one
//! flat-noise color of a ten-color palette, the class's own color for all but a fraction r of
//! the training digits (the bias-conflicting ones), any color with equal frequency in the test
//! split. docs/LFF.md gives the protocol in full.

pub mod assignment;
pub mod generate;
pub mod layout;
pub mod palette;
