//! The view tabs: which method each shows and which layer it works on, following the layer
//! selected in the summary where the method takes one.

use crate::methods::{cam, filters};
use crate::model::{Graph, LayerId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum View {
    Filters,
    Features,
    Saliency,
    Guided,
    SmoothGrad,
    IntegratedGradients,
    Cam,
    Occlusion,
    ScoreCam,
    ActMax,
}

/// Grad-CAM and its family, cycled with `[` and `]` inside the Grad-CAM tab.
pub const CAM_FAMILY: [(&str, &str); 6] = [
    ("gradcam", "Grad-CAM"),
    ("gradcampp", "Grad-CAM++"),
    ("hirescam", "HiResCAM"),
    ("xgradcam", "XGrad-CAM"),
    ("layercam", "LayerCAM"),
    ("guided-gradcam", "Guided Grad-CAM"),
];

/// What a layer-following view does with the selected layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follows {
    /// No layer (input-space methods, activation maximization of the target class).
    Nothing,
    /// A convolution's kernels.
    Kernels,
    /// A layer with a spatial output.
    SpatialMap,
}

impl View {
    pub const ALL: [View; 10] = [
        View::Filters,
        View::Features,
        View::Saliency,
        View::Guided,
        View::SmoothGrad,
        View::IntegratedGradients,
        View::Cam,
        View::Occlusion,
        View::ScoreCam,
        View::ActMax,
    ];

    pub fn index(self) -> usize {
        View::ALL.iter().position(|v| *v == self).expect("listed")
    }

    /// The tab's title.
    pub fn title(self) -> &'static str {
        match self {
            View::Filters => "Filters",
            View::Features => "Feature maps",
            View::Saliency => "Saliency",
            View::Guided => "Guided backprop",
            View::SmoothGrad => "SmoothGrad",
            View::IntegratedGradients => "Integrated gradients",
            View::Cam => "Grad-CAM",
            View::Occlusion => "Occlusion",
            View::ScoreCam => "Score-CAM",
            View::ActMax => "Activation max.",
        }
    }

    /// A short title for narrow terminals.
    pub fn short(self) -> &'static str {
        match self {
            View::Filters => "Filt",
            View::Features => "Feat",
            View::Saliency => "Sal",
            View::Guided => "Guid",
            View::SmoothGrad => "SmGr",
            View::IntegratedGradients => "IG",
            View::Cam => "CAM",
            View::Occlusion => "Occl",
            View::ScoreCam => "Score",
            View::ActMax => "AMax",
        }
    }

    /// The `render` method id, `variant` choosing within the Grad-CAM family.
    pub fn method(self, variant: usize) -> &'static str {
        match self {
            View::Filters => "filters",
            View::Features => "features",
            View::Saliency => "saliency",
            View::Guided => "guided",
            View::SmoothGrad => "smoothgrad",
            View::IntegratedGradients => "ig",
            View::Cam => CAM_FAMILY[variant % CAM_FAMILY.len()].0,
            View::Occlusion => "occlusion",
            View::ScoreCam => "scorecam",
            View::ActMax => "actmax",
        }
    }

    fn follows(self) -> Follows {
        match self {
            View::Filters => Follows::Kernels,
            View::Features | View::Cam | View::ScoreCam => Follows::SpatialMap,
            _ => Follows::Nothing,
        }
    }

    /// Whether the picture depends on the target class.
    pub fn uses_target(self) -> bool {
        !matches!(self, View::Filters | View::Features)
    }

    /// Whether the picture depends on the input image.
    pub fn uses_input(self) -> bool {
        !matches!(self, View::Filters | View::ActMax)
    }

    /// The layer this view works on given the selected one, and a note when it is not the
    /// selected layer (which cannot be used): `(layer, note)`.
    pub fn layer(self, graph: &Graph, selected: LayerId) -> (Option<LayerId>, Option<String>) {
        type Usable = fn(&Graph, LayerId) -> crate::Result<()>;
        type Default = fn(&Graph) -> Option<LayerId>;
        let (usable, default, lacks): (Usable, Default, &str) = match self.follows() {
            Follows::Nothing => return (None, None),
            Follows::Kernels => (filters::check_kernel, filters::default_layer, "no kernels"),
            Follows::SpatialMap => (cam::check_spatial, cam::default_layer, "no spatial map"),
        };
        if usable(graph, selected).is_ok() {
            return (Some(selected), None);
        }
        let fallback = default(graph);
        let name = |id: LayerId| graph.layer(id).name.clone();
        let note = fallback.map(|d| format!("{} has {lacks}: showing {}", name(selected), name(d)));
        (fallback, note)
    }
}
