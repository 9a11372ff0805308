//! `evaluate [MODEL] --images DIR|GLOB|LIST -o OUTDIR [--shard I/N]`: the figures of every
//! image, one manifest line each (`metrics`: each map's deletion, insertion, ROAD, … for that
//! image's target), and their means per map in `summary.json`. The curves and the
//! randomization steps stay out of the manifest (they would make it ~100× larger); run
//! `evaluate --image` on an image for them.

use std::sync::Arc;

use serde_json::json;

use super::{evaluate, setup, Args, Setup};
use crate::cli::many::{run_info, settings_text};
use crate::dataset::{self, Done, Item, Work};
use crate::error::{Error, Result};
use crate::exec::CancelToken;
use crate::input::Input;
use crate::methods::Control;

pub fn run(a: Args, spec: &str) -> Result<()> {
    for (given, flag, why) in [
        (a.map.is_some(), "--map", "scores one map of one input"),
        (a.plot.is_some(), "--plot", "draws one input's curves"),
        (
            a.strip.is_some(),
            "--strip",
            "draws one input's randomization strip",
        ),
    ] {
        if given {
            return Err(Error::Usage(format!(
                "{flag} {why}; with --images every image's figures go to the manifest — give \
                 --methods, or run evaluate --image on one image"
            )));
        }
    }
    if a.many.images_per_pass.is_some() {
        return Err(Error::Usage(
            "--images-per-pass is for render and predict: evaluate runs each image's \
             perturbed inputs in batches of --batch"
                .into(),
        ));
    }
    let many = a.many.start(spec, a.output.as_deref())?;
    let s = setup(&a)?;
    let run = run_info(
        "evaluate".into(),
        &a.model,
        &s.session,
        settings_text!(a, batch),
    )?;
    let preprocess = a.input.preprocess_for(&s.session.graph);
    let mut work = Evaluate {
        a: &a,
        s: &s,
        cancel: many.cancel.clone(),
    };
    many.execute("evaluate", &run, &s.session, preprocess, &mut work, a.json)
}

struct Evaluate<'a> {
    a: &'a Args,
    s: &'a Setup,
    cancel: CancelToken,
}

impl Work for Evaluate<'_> {
    fn outputs(&self, _: &Item) -> Vec<String> {
        Vec::new()
    }

    fn run(&mut self, item: &Item, input: Input) -> Result<Done> {
        let input = Arc::new(input);
        let control = |_: &str| Control {
            cancel: self.cancel.clone(),
            progress: None,
        };
        let e = evaluate(self.a, self.s, &input, &control)?;
        let doc = e.document(self.s, &item.rel);
        let mut fields = dataset::manifest::Record::new();
        fields.insert(
            "target".into(),
            json!({"index": e.class, "label": doc.label, "prob": e.clean}),
        );
        fields.insert("metrics".into(), doc.figures_json());
        let problems: serde_json::Map<String, serde_json::Value> = e
            .rows
            .iter()
            .filter_map(|r| Some((r.name.clone(), json!(r.problem.as_ref()?))))
            .collect();
        if !problems.is_empty() {
            fields.insert("problems".into(), json!(problems));
        }
        let maps_ms: serde_json::Map<String, serde_json::Value> = e
            .rows
            .iter()
            .map(|r| {
                (
                    r.name.clone(),
                    json!({"method_ms": r.method_ms, "metrics_ms": r.scores.ms}),
                )
            })
            .collect();
        fields.insert(
            "timings".into(),
            json!({"forward_ms": e.forward_ms, "maps": maps_ms}),
        );
        Ok(Done {
            files: Vec::new(),
            fields,
        })
    }
}
