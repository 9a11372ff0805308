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
    Device::new_cuda(index).map_err(|e| {
        Error::Usage(format!(
            "cannot open CUDA device {index} ({}); check that `nvidia-smi` lists it and that \
             the driver is at least as new as the CUDA toolkit convscope was built with, or \
             use --device cpu",
            cuda_reason(e)
        ))
    })
}

/// The first line of candle's error, without the backtrace it carries under RUST_BACKTRACE.
#[cfg(feature = "cuda")]
fn cuda_reason(e: candle_core::Error) -> String {
    let text = crate::error::without_backtrace(e).to_string();
    text.lines().next().unwrap_or("no reason given").to_string()
}

#[cfg(not(feature = "cuda"))]
fn cuda(_: usize) -> Result<Device> {
    Err(Error::Usage(
        "this convscope was built without CUDA; rebuild with `cargo build --release --features cuda` or use --device cpu".into(),
    ))
}

/// The first GPU when one answers, else the CPU — saying why on stderr, so that a CUDA build
/// that quietly computes on the CPU (no driver, a driver too old) is not a mystery.
#[cfg(feature = "cuda")]
fn auto() -> Device {
    match Device::new_cuda(0) {
        Ok(device) => device,
        Err(e) => {
            eprintln!(
                "note: --device auto: CUDA device 0 did not answer ({}); computing on the CPU",
                cuda_reason(e)
            );
            Device::Cpu
        }
    }
}

#[cfg(not(feature = "cuda"))]
fn auto() -> Device {
    Device::Cpu
}
