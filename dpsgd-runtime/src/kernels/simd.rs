//! Wider vectors for our own loops without giving up portability: `multiversion!`
//! compiles a kernel's body twice, once as is (baseline x86-64 or any other target)
//! and once with AVX-512 enabled, and picks at run time. The loops are written so the
//! compiler vectorizes them (independent partial sums, slices of equal length).

/// True when the CPU runs AVX-512F/VL with FMA (checked once, then cached by std),
/// unless [`portable_forced`].
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn has_avx512() -> bool {
    !portable_forced()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("fma")
}

/// The environment variable that forces the portable kernels.
pub const FORCE_PORTABLE: &str = "DPSGD_PORTABLE_KERNELS";

/// Whether `DPSGD_PORTABLE_KERNELS=1` forces the portable bodies of every
/// multiversioned kernel and the `gemm` crate's products, as on a CPU without
/// AVX-512 (read once per process, so that one run never mixes the two). The tests
/// run the kernel tests again this way, so both paths stay tested on any machine.
#[inline]
pub fn portable_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var(FORCE_PORTABLE).is_ok_and(|v| v == "1"))
}

/// `multiversion! { pub fn name<F: Float>(args...) -> R { body } }`, or with a
/// constant width, `name<F: Float, const N: usize>` (see [`with_constant_width!`]).
macro_rules! multiversion {
    ($(#[$attr:meta])* $vis:vis fn $name:ident<F: Float $(, const $c:ident: usize)?>($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name<F: $crate::Float $(, const $c: usize)?>($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn wide<F: $crate::Float $(, const $c: usize)?>($($arg: $ty),*) $(-> $ret)? $body
                if $crate::kernels::simd::has_avx512() {
                    // SAFETY: the CPU has every feature `wide` was compiled for.
                    return unsafe { wide::<F $(, $c)?>($($arg),*) };
                }
            }
            $body
        }
    };
}
pub(crate) use multiversion;

/// `with_constant_width!(n, [w1, w2, ...], run(args))` calls `run::<F, w>(args)` with
/// the width `n` as the constant `w` when it is one of those listed, and
/// `run::<F, 0>(args)` for any other. Rows of a constant width are a few vector moves
/// each, where a runtime width costs a loop with a remainder (or a call to `memcpy`)
/// per row. `run` reads its width through [`width_or`].
macro_rules! with_constant_width {
    ($n:expr, [$($w:literal),*], $run:ident $args:tt) => {
        match $n {
            $($w => $run::<F, $w> $args,)*
            _ => $run::<F, 0> $args,
        }
    };
}
pub(crate) use with_constant_width;

/// The width a kernel instantiated by `with_constant_width!` works with: its
/// constant `N`, or `runtime` when `N` is 0.
#[inline(always)]
pub const fn width_or<const N: usize>(runtime: usize) -> usize {
    if N == 0 { runtime } else { N }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_forces_the_portable_bodies() {
        if portable_forced() {
            #[cfg(target_arch = "x86_64")]
            assert!(!has_avx512());
        }
    }

    /// Runs the kernel, GEMM, noise and float tests again in a process of their own
    /// with the portable kernels forced (this test, there, does nothing).
    #[test]
    fn the_kernel_tests_pass_with_the_portable_kernels() {
        if portable_forced() {
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["kernels::", "gemm::", "noise::", "float::", "--test-threads=2"])
            .env(FORCE_PORTABLE, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        let passed: usize = stdout
            .lines()
            .find_map(|l| l.strip_prefix("test result: ok. ")?.split(' ').next()?.parse().ok())
            .unwrap_or(0);
        assert!(passed >= 20, "only {passed} kernel tests ran: {stdout}");
    }
}
