//! The scalar types a model computes in: `f32` for training, `f64` for gradient checks.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

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
    const ZERO: Self;
    const ONE: Self;
    /// Relative safety margin of the clipping threshold: norms are computed in this
    /// precision, so clipping to `C * (1 - CLIP_MARGIN)` keeps every clipped gradient's
    /// exact norm at or below `C` despite rounding.
    const CLIP_MARGIN: f64;
    const NAME: &'static str;

    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn ln_1p(self) -> Self;
    fn sqrt(self) -> Self;
    fn tanh(self) -> Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    fn max(self, other: Self) -> Self;
    /// One draw from the standard normal distribution (`rand_distr`'s ziggurat).
    fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self;
}

macro_rules! impl_float {
    ($t:ty, $margin:expr) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const CLIP_MARGIN: f64 = $margin;
            const NAME: &'static str = stringify!($t);

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
            #[inline(always)]
            fn standard_normal<R: Rng + ?Sized>(rng: &mut R) -> Self {
                <StandardNormal as Distribution<$t>>::sample(&StandardNormal, rng)
            }
        }
    };
}

// f32 norms of a few thousand terms carry relative errors around 1e-6; 1e-5 covers them.
impl_float!(f32, 1e-5);
impl_float!(f64, 1e-12);
