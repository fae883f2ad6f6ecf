//! A 2-D convolution.

use crate::contract::contract_struct;
use crate::{Contract, Init, NormCost, Shape, TensorLayout, TypeArg};

contract_struct! {
    /// A 2-D convolution of images stored `[channels, height, width]` per example,
    /// written `Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid>`: square
    /// kernels, TensorFlow's padding rules (`same`). Its parameters sit at `offset`: the
    /// weight `[out_channels, in_channels, kernel, kernel]` (PyTorch's layout), then the
    /// bias. Padding is explicit (top and left; bottom and right are what the output
    /// size implies), as [`conv_output`] finds it.
    pub struct Conv2d {
        /// Index of the layer's first parameter in the model's flat parameter vector.
        pub offset: usize,
        /// Channels of the input image.
        pub in_channels: usize,
        /// Channels of the output image: one kernel (and one bias) each.
        pub out_channels: usize,
        /// Side of the square kernel, in pixels.
        pub kernel: usize,
        /// Step between kernel positions, in pixels, the same in both directions.
        pub stride: usize,
        /// `Same` padding (`true`) or `Valid`, no padding (`false`).
        pub same: bool,
        /// Weight standardization (Qiao et al., 2019; De et al., 2022 with GroupNorm):
        /// the convolution uses each output channel's weights normalized to mean 0 and
        /// variance 1 (plus the normalizations' `EPSILON`). Its per-example norms are
        /// then taken from materialized gradients, mapped back through the
        /// standardization.
        pub standardized: bool,
        /// Zero rows padded above the input (0 for `Valid`).
        pub pad_top: usize,
        /// Zero columns padded left of the input (0 for `Valid`).
        pub pad_left: usize,
        /// Input height, in pixels (0 until applied).
        pub in_h: usize,
        /// Input width, in pixels (0 until applied).
        pub in_w: usize,
        /// Output height, in pixels (0 until applied).
        pub out_h: usize,
        /// Output width, in pixels (0 until applied).
        pub out_w: usize,
    }
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

    /// Values of one example's input: `in_channels * in_h * in_w`.
    pub const fn in_len(&self) -> usize {
        self.in_channels * self.in_h * self.in_w
    }

    /// Entries of the weight: `out_channels * patch()`.
    pub const fn weight_len(&self) -> usize {
        self.out_channels * self.patch()
    }

    /// Offset of the bias in the parameter vector.
    pub const fn bias_offset(&self) -> usize {
        self.offset + self.weight_len()
    }
}

impl Contract for Conv2d {
    const TYPE_NAME: &'static str = "Conv2d";
    const USAGE: &'static str = "Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid[, Standardized]>";

    fn declare(args: &[TypeArg]) -> Result<Self, String> {
        let usage = "write a convolution as `Conv2d<IN_CHANNELS, OUT_CHANNELS, KERNEL, STRIDE, Same|Valid>`, \
                     with `, Standardized` last for weight standardization";
        let (args, standardized) = match args {
            [rest @ .., TypeArg::Word(last)] if last == "Standardized" => (rest, true),
            _ => (args, false),
        };
        let [
            TypeArg::Size(in_channels),
            TypeArg::Size(out_channels),
            TypeArg::Size(kernel),
            TypeArg::Size(stride),
            TypeArg::Word(padding),
        ] = args
        else {
            return Err(usage.into());
        };
        let same = match padding.as_str() {
            "Same" => true,
            "Valid" => false,
            _ => return Err("padding is `Same` or `Valid`".into()),
        };
        let (in_channels, out_channels, kernel, stride) = (*in_channels, *out_channels, *kernel, *stride);
        Ok(Conv2d {
            offset: 0,
            in_channels,
            out_channels,
            kernel,
            stride,
            same,
            standardized,
            pad_top: 0,
            pad_left: 0,
            in_h: 0,
            in_w: 0,
            out_h: 0,
            out_w: 0,
        })
    }

    fn type_name(&self) -> String {
        let padding = if self.same { "Same" } else { "Valid" };
        let standardized = if self.standardized { ", Standardized" } else { "" };
        let (i, o, k, s) = (self.in_channels, self.out_channels, self.kernel, self.stride);
        format!("Conv2d<{i}, {o}, {k}, {s}, {padding}{standardized}>")
    }

    fn apply(&self, offset: usize, input: &Shape) -> Result<(Self, Shape), String> {
        let got = input.describe();
        let Shape::Image { channels, height, width } = *input else { return Err(format!(" but gets {got}")) };
        if channels != self.in_channels {
            return Err(format!(" but gets {got}"));
        }
        let (rows, columns) = (
            conv_output(height, self.kernel, self.stride, self.same),
            conv_output(width, self.kernel, self.stride, self.same),
        );
        let (Some((out_h, pad_top)), Some((out_w, pad_left))) = (rows, columns) else {
            return Err(format!(": its kernel does not fit {got} without padding"));
        };
        let applied = Conv2d { offset, pad_top, pad_left, in_h: height, in_w: width, out_h, out_w, ..*self };
        Ok((applied, Shape::Image { channels: self.out_channels, height: out_h, width: out_w }))
    }

    fn num_params(&self) -> usize {
        self.weight_len() + self.out_channels
    }

    /// `name.weight` (PyTorch's layout) and `name.bias`.
    fn tensors(&self, name: &str) -> Vec<TensorLayout> {
        let fan_in = self.patch();
        vec![
            TensorLayout {
                name: format!("{name}.weight"),
                offset: self.offset,
                shape: vec![self.out_channels, self.in_channels, self.kernel, self.kernel],
                fan_in,
                transposed: false,
                init: Init::Uniform,
            },
            TensorLayout {
                name: format!("{name}.bias"),
                offset: self.bias_offset(),
                shape: vec![self.out_channels],
                fan_in,
                transposed: false,
                init: Init::Uniform,
            },
        ]
    }

    /// The patch product at every output position ([`NormCost::of_product`]).
    /// A standardized convolution has no ghost way: the ghost norm would be the norm
    /// of the gradient of the standardized weights.
    fn norm_cost(&self) -> NormCost {
        let cost = NormCost::of_product(
            vec![self.in_channels, self.in_h, self.in_w],
            vec![self.out_channels, self.out_h, self.out_w],
            self.positions(),
            self.patch(),
            self.out_channels,
        );
        match self.standardized {
            true => NormCost { ghost_flops: usize::MAX, ghost_bytes: 0, ..cost },
            false => cost,
        }
    }

    fn forward_flops(&self) -> usize {
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
