//! Where training runs: `--device cpu` (always there) or `--device cuda` (builds with
//! the `cuda` feature, on a machine with an NVIDIA GPU).

use dpsgd_runtime::{Error, Result};

/// A place to train: parsed from `cpu` or `cuda` (also `gpu`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Device {
    /// The CPU engine, on every core of the rayon pool.
    #[default]
    Cpu,
    /// The CUDA engine, on the first NVIDIA GPU.
    Cuda,
}

impl Device {
    /// The name the command line takes: `cpu` or `cuda`.
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Cpu => "cpu",
            Device::Cuda => "cuda",
        }
    }

    /// The error for `--device cuda` in a build without the `cuda` feature.
    pub fn cuda_not_built() -> Error {
        Error::Config("this build has no CUDA support: rebuild with `cargo build --release --features cuda`".into())
    }
}

impl std::str::FromStr for Device {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda),
            _ => Err(format!("unknown device `{s}`; available: cpu, cuda")),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
