//! Opening a GPU. The driver, NVRTC and cuBLAS are loaded at run time: where one is
//! missing the answer is an error that says which and what to do, never a panic.

use std::sync::Arc;

use cudarc::cublas::CudaBlas;
use cudarc::driver::{CudaContext, CudaStream};

use crate::error::{Error, Result};

/// `Ok` when a CUDA GPU can be used here, else why not.
pub fn cuda_available() -> Result<()> {
    // SAFETY: these only try to dlopen the libraries.
    let (driver, nvrtc, cublas) = unsafe {
        (
            cudarc::driver::sys::is_culib_present(),
            cudarc::nvrtc::sys::is_culib_present(),
            cudarc::cublas::sys::is_culib_present(),
        )
    };
    if !driver {
        return Err(Error::Device(
            "no CUDA driver found (libcuda.so): install the NVIDIA driver, or train on the CPU (--device cpu)".into(),
        ));
    }
    for (present, name) in [(nvrtc, "NVRTC (libnvrtc.so)"), (cublas, "cuBLAS (libcublas.so)")] {
        if !present {
            return Err(Error::Device(format!(
                "{name} not found: install the CUDA toolkit's libraries (version 12 or 13) or add their \
                 directory to LD_LIBRARY_PATH"
            )));
        }
    }
    let count = CudaContext::device_count().map_err(|e| Error::Device(format!("the driver answered {e}")))?;
    if count == 0 {
        return Err(Error::Device("the CUDA driver sees no GPU".into()));
    }
    Ok(())
}

/// One GPU with the stream and cuBLAS handle an engine queues its work on.
pub struct CudaDevice {
    pub(crate) ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    pub(crate) blas: CudaBlas,
    name: String,
}

impl CudaDevice {
    /// Opens GPU `ordinal` (0 is the first).
    pub fn open(ordinal: usize) -> Result<Self> {
        cuda_available()?;
        // cudarc panics where a library lacks a symbol it expects (a driver older than
        // the bindings): that becomes an error too.
        std::panic::catch_unwind(|| Self::open_checked(ordinal)).unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(Error::Device(format!("opening GPU {ordinal} failed: {what}")))
        })
    }

    fn open_checked(ordinal: usize) -> Result<Self> {
        let fail = |what: &str, e: &dyn std::fmt::Debug| Error::Device(format!("{what} on GPU {ordinal}: {e:?}"));
        let ctx = CudaContext::new(ordinal).map_err(|e| fail("creating a context", &e))?;
        // One stream orders all of an engine's work, so cudarc's per-buffer events
        // would only add synchronization.
        // SAFETY: no buffer exists yet in this context.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.new_stream().map_err(|e| fail("creating a stream", &e))?;
        let blas = CudaBlas::new(stream.clone()).map_err(|e| fail("starting cuBLAS", &e))?;
        let name = ctx.name().unwrap_or_else(|_| "unknown GPU".into());
        Ok(CudaDevice { ctx, stream, blas, name })
    }

    /// The GPU's name, as the driver reports it.
    pub fn name(&self) -> &str {
        &self.name
    }
}
