//! The ops that make maps larger: ConvTranspose (as the `ConvTranspose2d` kind: ONNX's pads
//! are what the full transposed output drops, `output_padding` what it adds at the end) and
//! Resize at whole scale factors (as `Upsample`: nearest where ONNX's coordinate rule picks the
//! repeat, linear with half-pixel centres).

use super::super::attrs::{node_label, Attrs};
use super::super::builder::{Builder, Value};
use super::super::proto::NodeProto;
use crate::error::{Error, Result};
use crate::model::{
    ConvTranspose2dConfig, Interpolation, LayerKind, PaddingMode, UpsampleConfig, Window,
};

pub fn conv_transpose(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let err = |detail: String| Error::graph(node_label(node), detail);
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let w = b.const_input(node, 1)?.clone();
    let bias = b.opt_const_input(node, 2)?.cloned();
    let in_shape = b.shape(x).to_vec();
    // The weight is [in, out / group, kh, kw].
    if w.shape.len() != 4 || in_shape.len() != 4 || w.shape[0] != in_shape[1] {
        return Err(err(format!(
            "kernel {:?} does not fit the 2-D input {in_shape:?}",
            w.shape
        )));
    }
    if a.int("group", 1)? != 1 {
        return Err(err(
            "is a grouped ConvTranspose, which convscope does not run yet (group 1 only)".into(),
        ));
    }
    if a.ints("output_shape")?.is_some() {
        return Err(err(
            "gives output_shape, which convscope does not read yet: export with pads and \
             output_padding instead"
                .into(),
        ));
    }
    let (filters, kernel) = (w.shape[1], [w.shape[2], w.shape[3]]);
    if let Some(ks) = a.ints("kernel_shape")? {
        if ks.iter().map(|&k| k as usize).ne(kernel) {
            return Err(err(format!(
                "kernel_shape {ks:?} disagrees with the weight shape {:?}",
                w.shape
            )));
        }
    }
    let strides = a.usizes("strides", 2, 1)?;
    let dilation = a.usizes("dilations", 2, 1)?;
    let output_padding = a.usizes("output_padding", 2, 0)?;
    if strides.contains(&0) || dilation.contains(&0) {
        return Err(err("strides and dilations must be positive".into()));
    }
    if (0..2).any(|i| output_padding[i] >= strides[i].max(dilation[i])) {
        return Err(err(format!(
            "output_padding {output_padding:?} must be smaller than the strides {strides:?} or \
             the dilations {dilation:?}"
        )));
    }
    let (mode, pads) = match a.string("auto_pad")?.as_deref().unwrap_or("NOTSET") {
        "NOTSET" => {
            let p = a.usizes("pads", 4, 0)?;
            (PaddingMode::Explicit, [p[0], p[1], p[2], p[3]])
        }
        "VALID" => (PaddingMode::Valid, [0; 4]),
        other => {
            return Err(err(format!(
                "auto_pad {other} on a ConvTranspose is not supported (NOTSET with pads, VALID)"
            )))
        }
    };
    if let Some(bias) = &bias {
        if bias.numel() != filters {
            return Err(err(format!(
                "bias has {} values for {filters} filters",
                bias.numel()
            )));
        }
    }
    let weights = super::conv::kernel_and_bias(&w, bias.as_ref());
    let kind = LayerKind::ConvTranspose2d(ConvTranspose2dConfig {
        filters,
        in_channels: in_shape[1],
        window: Window {
            kernel,
            strides: [strides[0], strides[1]],
            dilation: [dilation[0], dilation[1]],
            pads,
            mode,
        },
        output_padding: [output_padding[0], output_padding[1]],
        use_bias: bias.is_some(),
    });
    b.add(node, kind, vec![x], weights)
}

/// Resize of an NCHW map by whole factors on H and W (from `scales`, or `sizes` that are whole
/// multiples), nearest or linear.
pub fn resize(b: &mut Builder, node: &NodeProto) -> Result<Value> {
    let err = |detail: String| Error::graph(node_label(node), detail);
    let a = Attrs::new(node);
    let x = b.layer_input(node, 0)?;
    let in_shape = b.shape(x).to_vec();
    if in_shape.len() != 4 {
        return Err(err(format!(
            "resizes a {in_shape:?} input; convscope resizes NCHW maps"
        )));
    }
    let factors: Vec<f64> = if let Some(scales) = b.opt_const_input(node, 2)? {
        scales.floats()?.data.iter().map(|&s| s as f64).collect()
    } else if let Some(sizes) = b.opt_const_input(node, 3)? {
        let sizes = sizes.ints()?;
        sizes
            .iter()
            .zip(&in_shape)
            .map(|(&s, &d)| s as f64 / d as f64)
            .collect()
    } else {
        return Err(err("has neither constant scales nor sizes".into()));
    };
    let whole = |f: f64| f >= 1.0 && f.fract() == 0.0 && f < 65536.0;
    let [n, c, h, w] = <[f64; 4]>::try_from(factors.as_slice())
        .map_err(|_| err(format!("has {} scales for a 4-D input", factors.len())))?;
    if n != 1.0 || c != 1.0 || !whole(h) || !whole(w) {
        return Err(err(format!(
            "resizes by {factors:?}; convscope resizes H and W by whole factors of at least 1"
        )));
    }
    let mode = a.string("mode")?.unwrap_or_else(|| "nearest".into());
    let transform = a
        .string("coordinate_transformation_mode")?
        .unwrap_or_else(|| "half_pixel".into());
    let nearest = a
        .string("nearest_mode")?
        .unwrap_or_else(|| "round_prefer_floor".into());
    let half_pixel = matches!(transform.as_str(), "half_pixel" | "pytorch_half_pixel");
    // At a whole factor s, output o reads source o / s (asymmetric) or (o + ½) / s − ½ (half
    // pixel, never a tie): floor of the first and rounding of the second both give o div s.
    let interpolation = match mode.as_str() {
        "nearest" if transform == "asymmetric" && nearest == "floor" => Interpolation::Nearest,
        "nearest" if half_pixel && nearest.starts_with("round_prefer") => Interpolation::Nearest,
        "linear" if half_pixel => Interpolation::Bilinear,
        _ => {
            return Err(err(format!(
                "is a {mode} Resize with coordinate_transformation_mode {transform} (nearest_mode \
                 {nearest}); convscope runs nearest as PyTorch exports it (asymmetric, floor) or \
                 with half-pixel rounding, and linear with half-pixel centres"
            )))
        }
    };
    let kind = LayerKind::Upsample(UpsampleConfig {
        scale: [h as usize, w as usize],
        interpolation,
    });
    b.add(node, kind, vec![x], vec![])
}
