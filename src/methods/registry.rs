//! The method registry: every fact about a method that something outside it needs — its id
//! and title, its family, the layer it works on, whether it batches, which options it takes,
//! where the interface shows it and how its picture is drawn — in one [`MethodInfo`] per
//! method, and the list of methods. `render`'s help and accepted values and option checks, the
//! interface's tabs, its Grad-CAM cycle and its options form, and the JSON reports all derive
//! from here. Adding a method is its file and one entry in [`all`].

use super::{
    actmax, deconvnet, features, filters, gradcam, gradcampp, guided, guided_gradcam, hirescam, ig,
    inputxgrad, layercam, occlusion, saliency, scorecam, smoothgrad, xgradcam, Method,
};
use crate::error::{Error, Result};

/// What a method is and what it needs.
#[derive(Clone, Copy, Debug)]
pub struct MethodInfo {
    /// The `render` METHOD id.
    pub id: &'static str,
    pub title: &'static str,
    pub family: Family,
    /// What kind of layer (`--layer`) it works on, if any.
    pub layer: LayerNeed,
    /// It evaluates the network in batches of `--batch` inputs (its report states the size).
    pub batched: bool,
    /// It reads only the clean input's forward pass and reverse passes of its objective from
    /// it, so several inputs can share those passes: `--images` explains a stack of images in
    /// one forward and one reverse pass.
    pub stackable: bool,
    /// It explains an input (all but activation maximization, which makes one).
    pub needs_input: bool,
    /// The options it takes (its `render` flags), besides the target, layer, input and
    /// picture options every method takes.
    pub options: &'static [Opt],
    /// Where the interface shows it.
    pub tab: Tab,
    /// How its artifact is drawn, which decides the picture options the interface offers.
    pub picture: Picture,
}

/// Methods by what they compute from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// The weights alone (kernels).
    Weights,
    /// A layer's activations for the input.
    Activations,
    /// Gradients of the objective with respect to the input.
    Gradient,
    /// Class activation maps at a layer.
    Cam,
    /// The objective under perturbed inputs.
    Perturbation,
    /// A picture synthesized to maximize the objective.
    Synthesis,
}

impl Family {
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Weights => "weights",
            Family::Activations => "activations",
            Family::Gradient => "gradient",
            Family::Cam => "cam",
            Family::Perturbation => "perturbation",
            Family::Synthesis => "synthesis",
        }
    }

    /// Whether its maps depend on the class explained.
    pub fn uses_target(self) -> bool {
        !matches!(self, Family::Weights | Family::Activations)
    }
}

/// The layer a method works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerNeed {
    None,
    /// A layer with an NCHW output of spatial size > 1 (CAMs, feature maps); default: the last.
    SpatialMap,
    /// A convolution, for its kernels; default: the first.
    Kernel,
    /// Any layer, only when `--layer` is given (activation maximization of a channel/neuron).
    Optional,
}

/// Where the interface shows a method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// A tab of its own, with a short title for narrow terminals.
    Own {
        title: &'static str,
        short: &'static str,
    },
    /// In the Grad-CAM tab, cycled with `[` and `]`.
    CamCycle,
    /// Only in `render`.
    CliOnly,
}

/// How an artifact is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Picture {
    /// Labelled tiles (kernels, feature maps): a colormap.
    Grid,
    /// An input-space attribution: max |·| or signed, on a colormap.
    Attribution,
    /// A map over the input: colormap, opacity, overlay on or off.
    Overlay,
    /// A picture the method made itself.
    Made,
}

/// A method option: its `render` flag, and the methods that take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Opt {
    Samples,
    Stdev,
    NtType,
    Seed,
    Baseline,
    InChannel,
    TopChannels,
    Channels,
    Layers,
    Window,
    Stride,
    View,
    Threshold,
    Steps,
    IgMethod,
    Recipe,
    Jitter,
    Batch,
    /// `--channel K` / `--neuron K`: a unit of `--layer` as the objective.
    Unit,
}

impl Opt {
    /// The flag, as typed.
    pub fn flag(self) -> &'static str {
        match self {
            Opt::Samples => "--samples",
            Opt::Stdev => "--stdev",
            Opt::NtType => "--nt-type",
            Opt::Seed => "--seed",
            Opt::Baseline => "--baseline",
            Opt::InChannel => "--in-channel",
            Opt::TopChannels => "--top-channels",
            Opt::Channels => "--channels",
            Opt::Layers => "--layers",
            Opt::Window => "--window",
            Opt::Stride => "--stride",
            Opt::View => "--view",
            Opt::Threshold => "--threshold",
            Opt::Steps => "--steps",
            Opt::IgMethod => "--ig-method",
            Opt::Recipe => "--recipe",
            Opt::Jitter => "--jitter",
            Opt::Batch => "--batch",
            Opt::Unit => "--channel/--neuron",
        }
    }

    /// The ids of the methods that take this option.
    pub fn takers(self) -> Vec<&'static str> {
        all()
            .iter()
            .map(|m| m.info())
            .filter(|i| i.options.contains(&self))
            .map(|i| i.id)
            .collect()
    }
}

/// Refuses an option the method does not take, naming the methods that take it.
pub fn check_options(info: &MethodInfo, given: &[(Opt, &str)]) -> Result<()> {
    for &(opt, typed) in given {
        if !info.options.contains(&opt) {
            return Err(Error::Usage(format!(
                "{typed} is not an option of {}; it is taken by {}",
                info.id,
                opt.takers().join(", ")
            )));
        }
    }
    Ok(())
}

/// Every method: the order of `--help`, and of the interface's tabs.
pub fn all() -> Vec<&'static dyn Method> {
    vec![
        &filters::Filters,
        &features::Features,
        &saliency::Saliency,
        &guided::Guided,
        &deconvnet::Deconvnet,
        &inputxgrad::InputXGradient,
        &smoothgrad::SmoothGrad,
        &ig::IntegratedGradients,
        &gradcam::GradCam,
        &gradcampp::GradCamPlusPlus,
        &hirescam::HiResCam,
        &xgradcam::XGradCam,
        &layercam::LayerCam,
        &guided_gradcam::GuidedGradCam,
        &occlusion::Occlusion,
        &scorecam::ScoreCam,
        &actmax::ActMax,
    ]
}

/// The methods whose images can share passes (`--images-per-pass`).
pub fn stackable_ids() -> Vec<&'static str> {
    all()
        .iter()
        .map(|m| m.info())
        .filter(|i| i.stackable)
        .map(|i| i.id)
        .collect()
}

pub fn ids() -> Vec<&'static str> {
    all().iter().map(|m| m.info().id).collect()
}

pub fn by_id(id: &str) -> Result<&'static dyn Method> {
    all()
        .into_iter()
        .find(|m| m.info().id == id)
        .ok_or_else(|| {
            Error::Usage(format!(
                "unknown method '{id}'; methods: {}",
                ids().join(", ")
            ))
        })
}

/// `render`'s list of methods, for its help: id, title, family and the options it takes.
pub fn help() -> String {
    let lines: Vec<String> = all()
        .iter()
        .map(|m| m.info())
        .map(|i| {
            let options: Vec<&str> = i
                .options
                .iter()
                .map(|o| o.flag())
                .chain(i.stackable.then_some("--images-per-pass"))
                .collect();
            let options = match options.is_empty() {
                true => String::new(),
                false => format!("; {}", options.join(" ")),
            };
            format!(
                "  {:<15} {} ({}{options})",
                i.id,
                i.title,
                i.family.as_str()
            )
        })
        .collect();
    format!("Methods:\n{}", lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_option_has_a_taker() {
        let mut ids = ids();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all().len());
        use Opt::*;
        for opt in [
            Samples,
            Stdev,
            NtType,
            Seed,
            Baseline,
            InChannel,
            TopChannels,
            Channels,
            Layers,
            Window,
            Stride,
            View,
            Threshold,
            Steps,
            IgMethod,
            Recipe,
            Jitter,
            Batch,
            Unit,
        ] {
            assert!(!opt.takers().is_empty(), "{opt:?} is taken by no method");
        }
        for m in all() {
            let i = m.info();
            assert_eq!(
                i.batched,
                i.options.contains(&Batch),
                "{}: batched vs --batch",
                i.id
            );
        }
    }

    #[test]
    fn an_option_the_method_does_not_take_names_the_takers() {
        let e = check_options(
            &by_id("gradcam").unwrap().info(),
            &[(Opt::Window, "--window")],
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "--window is not an option of gradcam; it is taken by occlusion"
        );
        assert!(check_options(
            &by_id("occlusion").unwrap().info(),
            &[(Opt::Window, "--window")]
        )
        .is_ok());
    }
}
