//! The view tabs, derived from the method registry: a tab for each method with one of its own,
//! and one Grad-CAM tab for the methods of the CAM cycle (chosen with `[` and `]`), in the
//! registry's order; then the Trust tab, which scores the maps of the others. Each method's
//! view knows which layer it works on, following the layer selected in the summary where its
//! method takes one.

use std::sync::OnceLock;

use crate::methods::{self, cam, filters, Family, LayerNeed, MethodInfo, Tab};
use crate::model::{Graph, LayerId};

const TRUST: &str = "Trust";

/// A tab, by its position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct View(usize);

/// One tab: its titles and the methods it shows (one, or the CAM cycle; none for Trust).
struct Entry {
    title: &'static str,
    short: &'static str,
    methods: Vec<MethodInfo>,
}

fn tabs() -> &'static [Entry] {
    static TABS: OnceLock<Vec<Entry>> = OnceLock::new();
    TABS.get_or_init(|| {
        let mut tabs: Vec<Entry> = Vec::new();
        let mut cycle: Option<usize> = None;
        for info in methods::all().iter().map(|m| m.info()) {
            match info.tab {
                Tab::Own { title, short } => tabs.push(Entry {
                    title,
                    short,
                    methods: vec![info],
                }),
                Tab::CamCycle => match cycle {
                    Some(i) => tabs[i].methods.push(info),
                    None => {
                        cycle = Some(tabs.len());
                        tabs.push(Entry {
                            // The cycle's tab is named after its first method (Grad-CAM).
                            title: info.title,
                            short: "CAM",
                            methods: vec![info],
                        });
                    }
                },
                Tab::CliOnly => {}
            }
        }
        tabs.push(Entry {
            title: TRUST,
            short: TRUST,
            methods: Vec::new(),
        });
        tabs
    })
}

impl View {
    /// Every tab, in order.
    pub fn all() -> impl Iterator<Item = View> {
        (0..tabs().len()).map(View)
    }

    pub fn count() -> usize {
        tabs().len()
    }

    /// The tab at `index` (clamped to the last).
    pub fn at(index: usize) -> View {
        View(index.min(tabs().len() - 1))
    }

    /// The Trust tab (the last).
    pub fn trust() -> View {
        View(tabs().len() - 1)
    }

    pub fn is_trust(self) -> bool {
        self == View::trust()
    }

    /// The key that selects the tab: its number (1-9, then 0), `T` for Trust.
    pub fn hotkey(self) -> char {
        match self.is_trust() {
            true => 'T',
            false => char::from_digit((self.0 as u32 + 1) % 10, 10).unwrap_or(' '),
        }
    }

    /// The tab that shows method `id`.
    pub fn of(id: &str) -> Option<View> {
        (0..tabs().len())
            .find(|&i| tabs()[i].methods.iter().any(|m| m.id == id))
            .map(View)
    }

    pub fn index(self) -> usize {
        self.0
    }

    /// The tab's title.
    pub fn title(self) -> &'static str {
        tabs()[self.0].title
    }

    /// A short title for narrow terminals.
    pub fn short(self) -> &'static str {
        tabs()[self.0].short
    }

    /// How many methods the tab cycles through (1 but for the Grad-CAM tab and Trust).
    pub fn variants(self) -> usize {
        tabs()[self.0].methods.len().max(1)
    }

    /// The registry entry of the method shown, `variant` choosing within a cycle. The Trust
    /// tab shows no one method: callers ask `is_trust` first (it answers the first tab's).
    pub fn info(self, variant: usize) -> MethodInfo {
        let methods = &tabs()[self.0].methods;
        match methods.is_empty() {
            false => methods[variant % methods.len()],
            true => tabs()[0].methods[0],
        }
    }

    /// The `render` method id, `variant` choosing within a cycle.
    pub fn method(self, variant: usize) -> &'static str {
        self.info(variant).id
    }

    /// Whether the picture depends on the target class.
    pub fn uses_target(self) -> bool {
        self.is_trust() || self.info(0).family.uses_target()
    }

    /// Whether the picture depends on the input image.
    pub fn uses_input(self) -> bool {
        if self.is_trust() {
            return true;
        }
        let info = self.info(0);
        info.needs_input && info.family != Family::Weights
    }

    /// The layer this view works on given the selected one, and a note when it is not the
    /// selected layer (which cannot be used): `(layer, note)`.
    pub fn layer(self, graph: &Graph, selected: LayerId) -> (Option<LayerId>, Option<String>) {
        type Usable = fn(&Graph, LayerId) -> crate::Result<()>;
        type Default = fn(&Graph) -> Option<LayerId>;
        if self.is_trust() {
            return (None, None);
        }
        let (usable, default, lacks): (Usable, Default, &str) = match self.info(0).layer {
            // Activation maximization's layer is the unit's, chosen in `render` only.
            LayerNeed::None | LayerNeed::Optional => return (None, None),
            LayerNeed::Kernel => (filters::check_kernel, filters::default_layer, "no kernels"),
            LayerNeed::SpatialMap => (cam::check_spatial, cam::default_layer, "no spatial map"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tabs_follow_the_registry() {
        let titles: Vec<&str> = View::all().map(View::title).collect();
        assert_eq!(
            titles,
            [
                "Filters",
                "Feature maps",
                "Saliency",
                "Guided backprop",
                "SmoothGrad",
                "Integrated gradients",
                "Grad-CAM",
                "Occlusion",
                "Score-CAM",
                "Activation max.",
                "Trust"
            ]
        );
        assert!(View::trust().is_trust() && View::trust().hotkey() == 'T');
        assert_eq!(View::of("filters").unwrap().hotkey(), '1');
        let cam = View::of("gradcam").unwrap();
        let cycle: Vec<&str> = (0..cam.variants()).map(|v| cam.method(v)).collect();
        assert_eq!(
            cycle,
            [
                "gradcam",
                "gradcampp",
                "hirescam",
                "xgradcam",
                "layercam",
                "guided-gradcam"
            ]
        );
        assert_eq!(View::of("layercam"), Some(cam));
        assert_eq!(View::of("deconvnet"), None);
        assert!(!View::of("filters").unwrap().uses_input());
        assert!(!View::of("features").unwrap().uses_target());
        assert!(!View::of("actmax").unwrap().uses_input());
    }
}
