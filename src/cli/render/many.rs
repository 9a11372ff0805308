//! `render METHOD MODEL --images DIR|GLOB|LIST -o OUTDIR [--npy] [--shard I/N]`: the map of
//! every image, mirrored under OUTDIR (`a/b/cat.jpg` → `OUTDIR/a/b/cat.METHOD.png`, and
//! `.npy` with `--npy`), with one manifest line each holding what `render --json` reports for
//! one image, plus the top classes.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{encode, explain_subject, npy, report, setup, Args, Setup};
use crate::cli::many::{run_info, settings_text};
use crate::dataset::{Done, Item, Work};
use crate::engine::{self, Subject};
use crate::error::{Error, Result};
use crate::exec::{device_label, CancelToken};
use crate::input::Input;
use crate::methods::target::top_k;
use crate::methods::Control;

/// How many classes each record lists.
const TOP: usize = 5;

pub fn run(a: Args, spec: &str) -> Result<()> {
    if let Some(Some(path)) = &a.npy {
        return Err(Error::Usage(format!(
            "--npy {} names one file, but --images writes one array per image next to its \
             picture; give --npy without a path",
            path.display()
        )));
    }
    let many = a.many.start(spec, a.output.as_deref())?;
    let s = setup(&a)?;
    let run = run_info(
        format!("render {}", a.method),
        &a.model,
        &s.session,
        settings_text!(a, print, knobs.batch),
    )?;
    let preprocess = a.input.preprocess_for(&s.session.graph);
    let mut work = RenderWork {
        a: &a,
        s: &s,
        cancel: many.cancel.clone(),
    };
    let label = format!("render {}", a.method);
    many.execute(&label, &run, &s.session, preprocess, &mut work, a.json)
}

struct RenderWork<'a> {
    a: &'a Args,
    s: &'a Setup,
    cancel: CancelToken,
}

impl RenderWork<'_> {
    fn png(&self, item: &Item) -> String {
        format!("{}.{}.png", item.stem, self.a.method)
    }

    fn npy(&self, item: &Item) -> Option<String> {
        self.a
            .npy
            .is_some()
            .then(|| format!("{}.{}.npy", item.stem, self.a.method))
    }
}

impl Work for RenderWork<'_> {
    fn outputs(&self, item: &Item) -> Vec<String> {
        std::iter::once(self.png(item))
            .chain(self.npy(item))
            .collect()
    }

    fn run(&mut self, item: &Item, input: Input) -> Result<Done> {
        let (a, s) = (self.a, self.s);
        let subject = Subject::new(&s.session, Arc::new(input))?;
        let control = Control {
            cancel: self.cancel.clone(),
            progress: None,
        };
        let e = explain_subject(a, s, &subject, control)?;
        let output = &e.explained.output;
        let t = std::time::Instant::now();
        let picture = engine::picture(s.method, output, &subject, &s.look)
            .ok_or_else(|| Error::Input(format!("{} made no picture", a.method)))?;
        let mut files = vec![("png", self.png(item), encode(&picture)?)];
        if let Some(rel) = self.npy(item) {
            files.push(("npy", rel, npy(output)));
        }
        let render_ms = super::ms(t);
        let graph = &s.session.graph;
        let label = |i: usize| s.labels.as_ref().and_then(|l| l.get(i)).cloned();
        let report = report::Report {
            method: &a.method,
            graph,
            facts: &e.explained.facts,
            class: e.class,
            label: e
                .class
                .and_then(|t| Some(s.labels.as_ref()?.get(t)?.as_str())),
            output,
            png: None,
            npy: None,
            device: device_label(&s.session.device),
            timings: json!({"forward_ms": e.forward_ms, "method_ms": e.explained.facts.method_ms, "render_ms": render_ms}),
        };
        let Value::Object(mut fields) = report.json() else {
            unreachable!("a report is an object")
        };
        fields.remove("files");
        if let Some(scores) = &e.scores {
            let top: Vec<Value> = top_k(scores, TOP)
                .iter()
                .map(|p| json!({"index": p.index, "label": label(p.index), "prob": p.prob}))
                .collect();
            fields.insert("top".into(), json!(top));
        }
        Ok(Done { files, fields })
    }
}
