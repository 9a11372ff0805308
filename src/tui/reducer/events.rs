//! What arrives from outside: resizes, the clock, job progress and results (results of
//! superseded requests are dropped), a layer's weights, another input, an export's outcome.

use std::sync::Arc;

use super::{refresh, say};
use crate::jobs::{Done, JobResult, Key};
use crate::methods::target::top_k;
use crate::tui::action::{Action, Effect};
use crate::tui::state::{input_picture, Job, State};

pub(super) fn background(s: &mut State, a: Action, fx: &mut Vec<Effect>) {
    match a {
        Action::Resize(w, h) => s.size = (w, h),
        Action::Tick(now) => s.now = now,
        Action::JobProgress { ticket, progress } => {
            if let Job::Running {
                ticket: t,
                progress: p,
                ..
            } = &mut s.job
            {
                if *t == ticket {
                    *p = Some(progress);
                }
            }
        }
        // The strip of the randomization check running, drawn as it grows.
        Action::JobPartial { ticket, check } => {
            if let Job::Running {
                ticket: t,
                key: Key::Trust(spec),
                ..
            } = &s.job
            {
                if *t == ticket {
                    s.trust.partial = Some(((**spec).clone(), check));
                    if s.view.is_trust() {
                        refresh(s, fx, false);
                    }
                }
            }
        }
        Action::JobFinished {
            ticket,
            key,
            result,
            ..
        } => {
            // A result for a request that was superseded (or cancelled) is dropped.
            if !matches!(&s.job, Job::Running { ticket: t, .. } if *t == ticket) {
                return;
            }
            s.job = Job::Idle;
            match (key, result) {
                (Key::Map(spec), JobResult::Done(Done::Map(done))) => {
                    if let Some(p) = done.problem {
                        say(s, format!("{}: {}", spec.method, p.describe()), false);
                    }
                    s.cache.insert(spec.clone(), done.clone());
                    s.shown = Some((spec, done));
                }
                (Key::Trust(spec), JobResult::Done(Done::Trust(scores))) => {
                    s.trust.scores.insert(*spec, Ok(scores));
                }
                // The Trust view shows a part's failure in its row, and a map's in the rows of
                // its parts, so that neither is asked for again.
                (Key::Trust(spec), JobResult::Failed(error)) => {
                    s.trust.scores.insert(*spec, Err(error));
                }
                (Key::Map(spec), JobResult::Failed(error)) if s.view.is_trust() => {
                    crate::tui::trust::map_failed(s, &spec, &error);
                }
                (key, JobResult::Failed(error)) => {
                    say(s, error.clone(), true);
                    s.job = Job::Failed { key, error };
                }
                (key, JobResult::Cancelled) => s.job = Job::Cancelled(key),
                (key, JobResult::Done(_)) => {
                    let error = format!("{} came back as another kind of job", key.name());
                    say(s, error.clone(), true);
                    s.job = Job::Failed { key, error };
                }
            }
            // The Trust view goes on with what it still lacks.
            if s.view.is_trust() {
                refresh(s, fx, false);
            }
        }
        // Weights of a layer no longer selected are not kept.
        Action::LayerLoaded(id, detail) if id == s.selected_layer() => {
            s.layer_detail = Some((id, detail));
        }
        Action::InputLoaded(Ok((input, scores))) => {
            say(s, format!("opened {}", input.path.display()), false);
            s.input_picture = Arc::new(input_picture(&input));
            s.input = input;
            s.input_gen += 1;
            s.top = top_k(&scores, 5);
            s.target = s.top.first().map_or(0, |p| p.index);
            s.probs = crate::methods::target::softmax(&scores);
            s.scores = scores;
            refresh(s, fx, true);
        }
        Action::InputLoaded(Err(e)) => say(s, e, true),
        Action::Exported(Ok(paths)) => {
            let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            say(s, format!("wrote {}", names.join(" and ")), false);
        }
        Action::Exported(Err(e)) => say(s, e, true),
        _ => {}
    }
}
