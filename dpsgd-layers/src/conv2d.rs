//! A 2-D convolution.

use crate::{NormCost, TensorLayout};

/// A 2-D convolution of images stored `[channels, height, width]` per example. Its
/// parameters sit at `offset`: the weight `[out_channels, in_channels, kernel, kernel]`
/// (PyTorch's layout), then the bias. Padding is explicit (top and left; bottom and
/// right are what the output size implies), so TensorFlow's SAME and VALID are both
/// expressible ([`conv_output`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2d {
    pub offset: usize,
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// A convolution's output size and padding under TensorFlow's rules: SAME gives
/// `ceil(in / stride)` positions, padded evenly with any odd pixel at the bottom/right;
/// VALID gives `(in - k) / stride + 1`, unpadded. `None` when the kernel does not fit.
pub fn conv_output(input: usize, kernel: usize, stride: usize, same: bool) -> Option<(usize, usize)> {
    if same {
        let out = input.div_ceil(stride);
        let total_pad = ((out - 1) * stride + kernel).saturating_sub(input);
        Some((out, total_pad / 2))
    } else {
        (input >= kernel).then(|| ((input - kernel) / stride + 1, 0))
    }
}

impl Conv2d {
    /// Values in one patch: `in_channels * kernel^2`.
    pub const fn patch(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Output positions: `out_h * out_w`.
    pub const fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    pub const fn in_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    pub const fn weight_len(&self) -> usize {
        self.out_channels * self.patch()
    }

    pub const fn bias_offset(&self) -> usize {
        self.offset + self.weight_len()
    }

    pub const fn num_params(&self) -> usize {
        self.weight_len() + self.out_channels
    }

    /// `name.weight` (PyTorch's layout) and `name.bias`.
    pub fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        let fan_in = self.patch();
        vec![
            TensorLayout {
                name: format!("{name}.weight"),
                offset: self.offset,
                shape: vec![self.out_channels, self.in_channels, self.kernel, self.kernel],
                fan_in,
                transposed: false,
            },
            TensorLayout {
                name: format!("{name}.bias"),
                offset: self.bias_offset(),
                shape: vec![self.out_channels],
                fan_in,
                transposed: false,
            },
        ]
    }

    /// The patch product at every output position ([`NormCost::of_product`]).
    pub fn norm_cost(&self) -> NormCost {
        NormCost::of_product(
            vec![self.in_channels, self.in_h, self.in_w],
            vec![self.out_channels, self.out_h, self.out_w],
            self.positions(),
            self.patch(),
            self.out_channels,
        )
    }

    pub const fn forward_flops(&self) -> usize {
        2 * self.positions() * self.patch() * self.out_channels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_padding() {
        // MNIST CNN: 28 -> 14 with an 8x8 kernel at stride 2, SAME: 3 rows on top.
        assert_eq!(conv_output(28, 8, 2, true), Some((14, 3)));
        assert_eq!(conv_output(14, 4, 2, false), Some((6, 0)));
        assert_eq!(conv_output(3, 4, 1, false), None);
        assert_eq!(conv_output(5, 3, 1, true), Some((5, 1)));
    }
}
