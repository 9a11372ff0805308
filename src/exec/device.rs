//! `--device auto|cpu|cuda[:N]`. CUDA is compiled in only with the `cuda` cargo feature.

use candle_core::Device;

use crate::error::{Error, Result};

pub fn select_device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        "auto" => Ok(auto()),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let index = match s.strip_prefix("cuda:") {
                None => 0,
                Some(n) => n.parse().map_err(|_| {
                    Error::Usage(format!("--device {s}: expected cuda:N with N a GPU index"))
                })?,
            };
            cuda(index)
        }
        other => Err(Error::Usage(format!(
            "--device {other}: expected auto, cpu, cuda or cuda:N"
        ))),
    }
}

/// A short name for display: `cpu` or `cuda:N`.
pub fn device_label(device: &Device) -> String {
    match device {
        Device::Cpu => "cpu".into(),
        Device::Cuda(_) => match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
            _ => "cuda".into(),
        },
        _ => "gpu".into(),
    }
}

#[cfg(feature = "cuda")]
fn cuda(index: usize) -> Result<Device> {
    Device::new_cuda(index)
        .map_err(|e| Error::Usage(format!("cannot open CUDA device {index}: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Device> {
    Err(Error::Usage(
        "this convscope was built without CUDA; rebuild with `cargo build --release --features cuda` or use --device cpu".into(),
    ))
}

#[cfg(feature = "cuda")]
fn auto() -> Device {
    Device::new_cuda(0).unwrap_or(Device::Cpu)
}

#[cfg(not(feature = "cuda"))]
fn auto() -> Device {
    Device::Cpu
}
