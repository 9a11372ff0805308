//! `render METHOD MODEL --images DIR|GLOB|LIST -o OUTDIR [--npy] [--shard I/N]`: the map of
//! every image, mirrored under OUTDIR (`a/b/cat.jpg` → `OUTDIR/a/b/cat.METHOD.png`, and
//! `.npy` with `--npy`), with one manifest line each holding what `render --json` reports for
//! one image, plus the top classes.

use serde_json::{json, Value};

use super::{ask, encode, explain_subject, ms, npy, report, setup, Args, Explanation, Setup};
use crate::cli::many::{run_info, settings_text};
use crate::dataset::{Done, Item, Work};
use crate::engine::{self, Subject, Together};
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
    let per_pass = a.many.per_pass(
        &s.session,
        s.method.info().stackable,
        &format!("{} runs passes of its own for each image", a.method),
    )?;
    let mut work = RenderWork {
        a: &a,
        s: &s,
        cancel: many.cancel.clone(),
        per_pass,
    };
    let label = format!("render {}", a.method);
    many.execute(&label, &run, &s.session, preprocess, &mut work, a.json)
}

struct RenderWork<'a> {
    a: &'a Args,
    s: &'a Setup,
    cancel: CancelToken,
    /// Images a forward and reverse pass (1 after a batch the model could not run).
    per_pass: usize,
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

    fn per_pass(&self) -> usize {
        self.per_pass
    }

    fn run(&mut self, item: &Item, input: Input) -> Result<Done> {
        let subject = self.s.subject(input)?;
        self.explain_one(item, &subject)
    }

    /// One forward pass for the group, each image's target from its row of it, and the
    /// method's reverse passes shared (see `engine::Together`).
    fn run_many(&mut self, group: Vec<(&Item, Input)>) -> Vec<Result<Done>> {
        let (a, s) = (self.a, self.s);
        let n = group.len();
        let (items, inputs): (Vec<&Item>, Vec<Input>) = group.into_iter().unzip();
        let subjects: Result<Vec<Subject>> =
            inputs.into_iter().map(|input| s.subject(input)).collect();
        let subjects = match subjects {
            Ok(subjects) => subjects,
            Err(e) => return (0..n).map(|_| Err(same_error(&e))).collect(),
        };
        let t = std::time::Instant::now();
        let together = match Together::forward(&s.session, &subjects, &self.cancel) {
            Ok(together) => together,
            Err(Error::Cancelled) => return (0..n).map(|_| Err(Error::Cancelled)).collect(),
            Err(e) => {
                // A model that cannot run several inputs at once (a fixed batch of one inside
                // it): one image a pass from now on.
                errln!(
                    "convscope: warning: {n} images in one pass failed ({e}); explaining one \
                     image a pass"
                );
                self.per_pass = 1;
                return items
                    .iter()
                    .zip(&subjects)
                    .map(|(item, subject)| self.explain_one(item, subject))
                    .collect();
            }
        };
        let asked: Vec<Result<super::Asked>> = subjects.iter().map(|x| ask(a, s, x)).collect();
        let forward_ms = ms(t) / n as f64;
        let mut requests = Vec::with_capacity(n);
        let mut rest = Vec::with_capacity(n);
        for asked in asked {
            match asked {
                Ok(asked) => {
                    requests.push(Ok(asked.request));
                    rest.push((asked.scores, asked.class));
                }
                Err(e) => {
                    requests.push(Err(e));
                    rest.push((None, None));
                }
            }
        }
        let explained = together.explain(requests, &self.control());
        explained
            .into_iter()
            .zip(rest)
            .zip(items.iter().zip(&subjects))
            .map(|((explained, (scores, class)), (item, subject))| {
                let e = Explanation {
                    explained: explained?,
                    scores,
                    class,
                    forward_ms: (forward_ms * 10.0).round() / 10.0,
                };
                self.done(item, subject, e)
            })
            .collect()
    }
}

/// An error for each image of a group (errors are not `Clone`: the same message, as input).
fn same_error(e: &Error) -> Error {
    match e {
        Error::Cancelled => Error::Cancelled,
        e => Error::Input(e.to_string()),
    }
}

impl RenderWork<'_> {
    fn control(&self) -> Control {
        Control {
            cancel: self.cancel.clone(),
            progress: None,
        }
    }

    /// One image explained on its own pass: its files and record fields.
    fn explain_one(&self, item: &Item, subject: &Subject) -> Result<Done> {
        let e = explain_subject(self.a, self.s, subject, self.control())?;
        self.done(item, subject, e)
    }

    /// An explained image's files and record fields.
    fn done(&self, item: &Item, subject: &Subject, e: Explanation) -> Result<Done> {
        let (a, s) = (self.a, self.s);
        let output = &e.explained.output;
        let t = std::time::Instant::now();
        let picture = engine::picture(s.method, output, subject, &s.look)
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
