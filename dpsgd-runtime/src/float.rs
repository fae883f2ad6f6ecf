//! The scalar types a model computes in: `f32` for training, `f64` for gradient checks.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

/// A floating-point scalar the generated code and the kernels are generic over.
pub trait Float:
    Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialOrd
    + Sum
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + 'static
{
    /// `0`.
    const ZERO: Self;
    /// `1`.
    const ONE: Self;
    /// Relative safety margin of the clipping threshold: norms are computed in this
    /// precision, so clipping to `C * (1 - CLIP_MARGIN)` keeps every clipped gradient's
    /// exact norm at or below `C` despite rounding.
    const CLIP_MARGIN: f64;
    /// The type's name, `f32` or `f64`: for messages, and recorded in checkpoints.
    const NAME: &'static str;
    /// The smallest positive normal value; below it lie the subnormals.
    const MIN_NORMAL: Self;

    /// `v` rounded to this precision (`as`).
    fn from_f64(v: f64) -> Self;
    /// The value in `f64`, exactly.
    fn to_f64(self) -> f64;
    /// `e^x`, the standard library's.
    fn exp(self) -> Self;
    /// `e^x - 1`, precise near 0.
    fn exp_m1(self) -> Self;
    /// The natural logarithm.
    fn ln(self) -> Self;
    /// `ln(1 + x)`, precise near 0.
    fn ln_1p(self) -> Self;
    /// The square root (NaN below 0).
    fn sqrt(self) -> Self;
    /// The hyperbolic tangent, the standard library's.
    fn tanh(self) -> Self;
    /// The absolute value.
    fn abs(self) -> Self;
    /// Whether the value is neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// The larger of the two; the other one when one is NaN (IEEE `maxNum`, as the
    /// standard library's `max`).
    fn max(self, other: Self) -> Self;
    /// `1 / (1 + e^-x)` written so that loops of it vectorize (no library call in f32).
    fn vector_sigmoid(self) -> Self;
    /// `tanh(x)`, as [`vector_sigmoid`](Self::vector_sigmoid).
    fn vector_tanh(self) -> Self;
    /// `ln(1 + e^x)` without overflow for large `|x|`, as
    /// [`vector_sigmoid`](Self::vector_sigmoid).
    fn vector_softplus(self) -> Self;
    /// `e^x`, as [`vector_sigmoid`](Self::vector_sigmoid).
    fn vector_exp(self) -> Self;
    /// `Phi(x)`, the standard normal distribution function (exact GELU's gate), as
    /// [`vector_sigmoid`](Self::vector_sigmoid): in f64 through the library's `erfc`,
    /// in f32 by an approximation of relative error below `(5 + 2 x^2) 1e-7` (the `x^2`
    /// from rounding `x^2 / 2` to f32; it matters only in the tail, where `Phi` is tiny).
    fn vector_normal_cdf(self) -> Self;
}

/// `erfc(z)` in f32 without a library call: `t e^(-z^2 + P(t))` with `t = 1 / (1 +
/// |z| / 2)` and `P` the degree-9 Chebyshev fit of Numerical Recipes' `erfcc` (fractional
/// error below 1.2e-7 for every `z` in exact arithmetic; in f32, `z^2`'s rounding adds
/// `z^2` ulp), reflected as `2 - erfc(-z)` below zero.
#[inline(always)]
fn erfc_f32(z: f32) -> f32 {
    const C: [f32; 10] = [
        -1.265_512_2,
        1.000_023_7,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_204,
        1.488_515_9,
        -0.822_152_23,
        0.170_872_77,
    ];
    let a = z.abs();
    let t = 1.0 / (1.0 + 0.5 * a);
    let poly = C.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let tail = t * exp_f32(-a * a + poly);
    if z >= 0.0 { tail } else { 2.0 - tail }
}

/// `e^x` in f32 without a library call, so that loops of it vectorize: `x = n ln2 + r`
/// with `|r| <= ln2 / 2`, `e^r` by Cephes' degree-7 polynomial (about one ulp), `2^n`
/// written into the exponent bits. Inputs are clamped to where the result is a normal
/// float. `n` is rounded by adding `1.5 * 2^23`, which leaves it in the low mantissa
/// bits: no float-to-integer conversion, which vectorizes poorly.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    // ln 2 in two parts, so that n * ln2 is exact to float precision.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 0.166_666_65) * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // The low bits of `shifted` hold n (-126..=127) above SHIFT's: n + 127, the
    // exponent of 2^n.
    e * f32::from_bits(shifted.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23)
}

/// `ln(1 + u)` for `u` in `[0, 1]` in f32 without a library call: `2 atanh(s)` with
/// `s = u / (2 + u) <= 1/3`, by its series up to `s^13` (the next term is below 2e-8 of
/// the sum).
#[inline(always)]
fn ln_1p_unit_f32(u: f32) -> f32 {
    let s = u / (2.0 + u);
    let s2 = s * s;
    let series = (((((s2 / 13.0 + 1.0 / 11.0) * s2 + 1.0 / 9.0) * s2 + 1.0 / 7.0) * s2 + 0.2) * s2 + 1.0 / 3.0) * s2;
    2.0 * s * (1.0 + series)
}

macro_rules! impl_float_common {
    ($t:ty, $margin:expr) => {
        const ZERO: Self = 0.0;
        const ONE: Self = 1.0;
        const CLIP_MARGIN: f64 = $margin;
        const NAME: &'static str = stringify!($t);
        const MIN_NORMAL: Self = <$t>::MIN_POSITIVE;

        #[inline(always)]
        fn from_f64(v: f64) -> Self {
            v as $t
        }
        #[inline(always)]
        fn to_f64(self) -> f64 {
            self as f64
        }
        #[inline(always)]
        fn exp(self) -> Self {
            <$t>::exp(self)
        }
        #[inline(always)]
        fn exp_m1(self) -> Self {
            <$t>::exp_m1(self)
        }
        #[inline(always)]
        fn ln(self) -> Self {
            <$t>::ln(self)
        }
        #[inline(always)]
        fn ln_1p(self) -> Self {
            <$t>::ln_1p(self)
        }
        #[inline(always)]
        fn sqrt(self) -> Self {
            <$t>::sqrt(self)
        }
        #[inline(always)]
        fn tanh(self) -> Self {
            <$t>::tanh(self)
        }
        #[inline(always)]
        fn abs(self) -> Self {
            <$t>::abs(self)
        }
        #[inline(always)]
        fn is_finite(self) -> bool {
            <$t>::is_finite(self)
        }
        #[inline(always)]
        fn max(self, other: Self) -> Self {
            <$t>::max(self, other)
        }
    };
}

// f32 norms of a few thousand terms carry relative errors around 1e-6; 1e-5 covers them.
impl Float for f32 {
    impl_float_common!(f32, 1e-5);

    #[inline(always)]
    fn vector_sigmoid(self) -> Self {
        1.0 / (1.0 + exp_f32(-self))
    }
    #[inline(always)]
    fn vector_tanh(self) -> Self {
        1.0 - 2.0 / (1.0 + exp_f32(2.0 * self))
    }
    #[inline(always)]
    fn vector_softplus(self) -> Self {
        self.max(0.0) + ln_1p_unit_f32(exp_f32(-self.abs()))
    }
    #[inline(always)]
    fn vector_exp(self) -> Self {
        exp_f32(self)
    }
    #[inline(always)]
    fn vector_normal_cdf(self) -> Self {
        0.5 * erfc_f32(-self * std::f32::consts::FRAC_1_SQRT_2)
    }
}

impl Float for f64 {
    impl_float_common!(f64, 1e-12);

    #[inline(always)]
    fn vector_sigmoid(self) -> Self {
        crate::kernels::activation::sigmoid(self)
    }
    #[inline(always)]
    fn vector_tanh(self) -> Self {
        self.tanh()
    }
    #[inline(always)]
    fn vector_softplus(self) -> Self {
        self.max(0.0) + (-self.abs()).exp().ln_1p()
    }
    #[inline(always)]
    fn vector_exp(self) -> Self {
        self.exp()
    }
    /// `erfc(-x / sqrt 2) / 2`: `(1 + erf(x / sqrt 2)) / 2` would lose the far negative
    /// tail to cancellation.
    #[inline(always)]
    fn vector_normal_cdf(self) -> Self {
        0.5 * libm::erfc(-self * std::f64::consts::FRAC_1_SQRT_2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_functions_are_accurate() {
        let mut worst: f64 = 0.0;
        for i in -200_000..=200_000 {
            // Exactly representable in f32, so only the function's error shows.
            let x = (i as f64 * 1e-4) as f32 as f64;
            let exact = x.exp();
            if exact > 1e-37 && exact < 1e38 {
                worst = worst.max((exp_f32(x as f32) as f64 / exact - 1.0).abs());
            }
            let sig = (x as f32).vector_sigmoid() as f64;
            assert!((sig - 1.0 / (1.0 + (-x).exp())).abs() < 2e-7, "sigmoid({x}) = {sig}");
            let tanh = (x as f32).vector_tanh() as f64;
            assert!((tanh - x.tanh()).abs() < 3e-7, "tanh({x}) = {tanh}");
            let cdf = (x as f32).vector_normal_cdf() as f64;
            let want = 0.5 * libm::erfc(-x / 2f64.sqrt());
            // In f32, -z^2 carries a rounding error of z^2 ulp: relative errors grow in
            // the far tail, where the values are tiny.
            // Below f32's normal range, exp_f32 stops at its smallest normal value.
            let tolerance = (want * (5.0 + 2.0 * x * x) * 1e-7).max(1e-37);
            assert!((cdf - want).abs() < tolerance, "Phi({x}) = {cdf}, not {want}");
            let softplus = (x as f32).vector_softplus() as f64;
            let want = x.max(0.0) + (-x.abs()).exp().ln_1p();
            assert!((softplus - want).abs() < 2e-7 * want.max(1.0), "softplus({x}) = {softplus}");
        }
        assert!(worst < 3e-7, "exp: relative error {worst}");
        // e^-1000 is far below f32's smallest value: 0, or a subnormal at most.
        let tail = (-1000f32).vector_sigmoid();
        assert!((0.0..1e-38).contains(&tail), "sigmoid(-1000) = {tail}");
        assert_eq!(1000f32.vector_sigmoid(), 1.0);
        assert_eq!(1000f32.vector_tanh(), 1.0);
        assert_eq!((-1000f32).vector_tanh(), -1.0);
        assert_eq!(1e4f32.vector_softplus(), 1e4);
        assert_eq!(100f32.vector_normal_cdf(), 1.0);
        assert!((0.0..1e-37).contains(&(-100f32).vector_normal_cdf()));
        assert!((-1e4f32).vector_softplus() >= 0.0 && (-1e4f32).vector_softplus() < 1e-30);
    }
}
