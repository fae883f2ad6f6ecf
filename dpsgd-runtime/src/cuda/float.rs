//! The float types the CUDA engine computes in, with their cuBLAS GEMM.

use cudarc::cublas::result::{dgemm, sgemm};
use cudarc::cublas::sys::{cublasHandle_t, cublasOperation_t};
use cudarc::driver::{DeviceRepr, ValidAsZeroBits};

use crate::Float;

/// `f32` or `f64` on the GPU.
pub trait CudaFloat: Float + DeviceRepr + ValidAsZeroBits {
    /// The type's name in the kernels' source.
    const C_TYPE: &'static str;

    /// Column-major `C = alpha op(A) op(B) + beta C` on device pointers.
    ///
    /// # Safety
    /// The pointers must address matrices of the given shapes on the handle's device.
    #[allow(clippy::too_many_arguments)]
    unsafe fn gemm(
        handle: cublasHandle_t,
        transpose: (bool, bool),
        m: usize,
        n: usize,
        k: usize,
        alpha: Self,
        a: (u64, usize),
        b: (u64, usize),
        beta: Self,
        c: (u64, usize),
    ) -> Result<(), cudarc::cublas::result::CublasError>;
}

fn op(transpose: bool) -> cublasOperation_t {
    if transpose { cublasOperation_t::CUBLAS_OP_T } else { cublasOperation_t::CUBLAS_OP_N }
}

macro_rules! impl_cuda_float {
    ($t:ty, $c:literal, $gemm:ident) => {
        impl CudaFloat for $t {
            const C_TYPE: &'static str = $c;

            unsafe fn gemm(
                handle: cublasHandle_t,
                transpose: (bool, bool),
                m: usize,
                n: usize,
                k: usize,
                alpha: Self,
                a: (u64, usize),
                b: (u64, usize),
                beta: Self,
                c: (u64, usize),
            ) -> Result<(), cudarc::cublas::result::CublasError> {
                let int = |v: usize| v as std::ffi::c_int;
                // SAFETY: forwarded to the caller.
                unsafe {
                    $gemm(
                        handle,
                        op(transpose.0),
                        op(transpose.1),
                        int(m),
                        int(n),
                        int(k),
                        &alpha,
                        a.0 as *const $t,
                        int(a.1),
                        b.0 as *const $t,
                        int(b.1),
                        &beta,
                        c.0 as *mut $t,
                        int(c.1),
                    )
                }
            }
        }
    };
}

impl_cuda_float!(f32, "float", sgemm);
impl_cuda_float!(f64, "double", dgemm);
