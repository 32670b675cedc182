//! The shape of a convolution: channels, kernel, stride, padding and groups, and the sizes that
//! follow from them.

/// Hyper-parameters of a convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvSpec {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Square kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub padding: usize,
    /// Channel groups (input and output channels split into this many independent blocks).
    pub groups: usize,
}

impl ConvSpec {
    /// Output side for an input side: `(side + 2p − k) / s + 1`.
    pub fn out_side(&self, side: usize) -> usize {
        (side + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output dimensions (NHWC) for an input of `dims`.
    pub fn output_dims(&self, [n, h, w, _]: [usize; 4]) -> [usize; 4] {
        [n, self.out_side(h), self.out_side(w), self.out_channels]
    }

    /// Input channels per group.
    pub fn group_in(&self) -> usize {
        self.in_channels / self.groups
    }

    /// Output channels per group.
    pub fn group_out(&self) -> usize {
        self.out_channels / self.groups
    }

    /// Columns of the im2col matrix per group: k·k·Cin_g.
    pub fn group_cols(&self) -> usize {
        self.kernel * self.kernel * self.group_in()
    }

    /// Weights per group.
    pub fn group_weights(&self) -> usize {
        self.group_cols() * self.group_out()
    }

    /// Fan-in of one output (for initialization).
    pub fn fan_in(&self) -> usize {
        self.group_cols()
    }

    /// Whether the output has the input's side: stride 1 and `2p + 1 = k`.
    pub fn keeps_side(&self) -> bool {
        self.stride == 1 && 2 * self.padding + 1 == self.kernel
    }

    /// The transposed convolution of a stride-1 convolution: Cout → Cin with padding k−1−p,
    /// whose forward pass (with flipped taps) is this convolution's input gradient.
    pub fn transposed(&self) -> ConvSpec {
        ConvSpec {
            in_channels: self.out_channels,
            out_channels: self.in_channels,
            padding: self.kernel - 1 - self.padding,
            ..*self
        }
    }
}
