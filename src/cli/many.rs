//! `--images DIR|GLOB|LIST -o OUTDIR [--shard I/N]`: what `render` and `predict` share when
//! they run over many images — the options, the output folder's checks, the signals that stop
//! a run cleanly, the progress line, and the end (a summary, and an exit status that says
//! whether every image was done).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::dataset::{self, Item, Outcome, Plan, Progress, RunInfo, Shard, Work};
use crate::engine::Session;
use crate::error::{Error, Result};
use crate::exec::CancelToken;
use crate::input::preprocess::Preprocess;
use crate::input::{Input, Source};

/// A command's arguments as text, without what never changes an image's outputs: where the
/// model and the images come from (the model is identified by its digest), where the outputs
/// go, the device, `--json`, and the command's own such fields (`knobs.batch`, …). This is
/// the `settings` of a run's identity.
macro_rules! settings_text {
    ($args:expr $(, $($field:ident).+)*) => {{
        let mut a = $args.clone();
        a.model = String::new();
        a.model_args = Default::default();
        a.output = None;
        a.json = false;
        a.many = Default::default();
        a.input.device = String::new();
        $( a.$($field).+ = Default::default(); )*
        format!("{a:?}")
    }};
}
pub(crate) use settings_text;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManyArgs {
    /// Every image of a folder (PNG and JPEG, recursively), a quoted pattern
    /// ('photos/**/*.jpg'), or a text file listing paths (one a line): outputs go under
    /// -o OUTDIR by relative path, with OUTDIR/manifest.jsonl saying what became of each.
    /// Rerunning resumes.
    #[arg(long, value_name = "DIR|GLOB|LIST", conflicts_with_all = ["image", "input_npy"], help_heading = "Many images")]
    pub images: Option<String>,
    /// Do only shard I of N (I from 0); `--shard N` takes I from SLURM_ARRAY_TASK_ID or
    /// JOB_COMPLETION_INDEX. Each shard writes OUTDIR/manifest.part-I-of-N.jsonl; `convscope
    /// merge OUTDIR` joins them.
    #[arg(
        long,
        value_name = "I/N",
        requires = "images",
        help_heading = "Many images"
    )]
    pub shard: Option<String>,
    /// Images explained in one forward and one reverse pass: for predict, and for render
    /// with the methods that read only those (its list of methods shows which) [default: 1
    /// on the CPU, where several a pass gain ~20% and one a pass keeps shards byte-identical
    /// to a single run; on a GPU, as many as fit in memory]
    #[arg(
        long,
        value_name = "N",
        requires = "images",
        help_heading = "Many images"
    )]
    pub images_per_pass: Option<usize>,
}

/// A run over many images, ready to start: its images, output folder, share and stop flag.
pub struct Many {
    pub listing: dataset::Listing,
    pub outdir: PathBuf,
    pub shard: Option<Shard>,
    pub cancel: CancelToken,
    signal: Arc<AtomicUsize>,
}

impl ManyArgs {
    /// Checks the options and the output folder, lists the images (warnings on stderr) and
    /// installs the signal handlers. `outdir` is `-o`.
    pub fn start(&self, spec: &str, outdir: Option<&Path>) -> Result<Many> {
        let outdir = outdir.ok_or_else(|| {
            Error::Usage(
                "--images needs -o OUTDIR: the folder the outputs and manifest go to".into(),
            )
        })?;
        let shard = self
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, |name| std::env::var(name).ok()))
            .transpose()?;
        if shard.is_none() {
            if let Some(var) = dataset::in_scheduler_array(|n| std::env::var(n).ok()) {
                errln!(
                    "convscope: warning: {var} is set but --shard is not: this task does every \
                     image; give --shard N to share them out"
                );
            }
        }
        check_outdir(outdir)?;
        let listing = dataset::list(spec, Some(outdir))?;
        for w in &listing.warnings {
            errln!("convscope: {w}");
        }
        let cancel = CancelToken::new();
        let signal = stop_on_signals(&cancel)?;
        Ok(Many {
            listing,
            outdir: outdir.to_path_buf(),
            shard,
            cancel,
            signal,
        })
    }
}

impl ManyArgs {
    /// Images per pass for a command whose work can share passes (`stacks`, e.g. `render` of
    /// a stackable method): `--images-per-pass`, else 1 on the CPU (several images a pass
    /// save ~20% of the time there, and one image a pass makes a shard's outputs identical to
    /// a single run's byte for byte) and the memory-sized batch on other devices.
    /// `refused` says why a command that cannot stack refuses the option.
    pub fn per_pass(&self, session: &Session, stacks: bool, refused: &str) -> Result<usize> {
        match self.images_per_pass {
            Some(_) if !stacks => Err(Error::Usage(format!(
                "--images-per-pass: {refused}; it is for render with {} and for predict",
                crate::methods::stackable_ids().join(", ")
            ))),
            Some(0) => Err(Error::Usage("--images-per-pass must be at least 1".into())),
            Some(n) => {
                crate::methods::check_inputs_fit(&session.graph, n, "--images-per-pass")?;
                Ok(n)
            }
            None if !stacks || session.device.is_cpu() => Ok(1),
            None => Ok(session.batch),
        }
    }
}

/// The output folder: refused if it is something other than a folder.
fn check_outdir(outdir: &Path) -> Result<()> {
    match std::fs::metadata(outdir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Usage(format!(
                "-o {} is a file; with --images, -o names the folder the outputs go to",
                outdir.display()
            )))
        }
        // Made by the run, once the model has loaded: a refused command writes nothing.
        Err(_) => {}
    }
    Ok(())
}

/// SIGINT, SIGTERM (a scheduler's preemption) and SIGHUP set `cancel`: the run stops after
/// abandoning the current image; a second signal ends the process at once. Returns where the
/// signal's number is kept.
fn stop_on_signals(cancel: &CancelToken) -> Result<Arc<AtomicUsize>> {
    let number = Arc::new(AtomicUsize::new(0));
    #[cfg(unix)]
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let flag = cancel.flag();
        let installed = signal_hook::flag::register_conditional_default(sig, flag.clone())
            .and_then(|_| signal_hook::flag::register(sig, flag))
            .and_then(|_| signal_hook::flag::register_usize(sig, number.clone(), sig as usize));
        installed.map_err(|e| Error::Input(format!("cannot install the signal handlers: {e}")))?;
    }
    Ok(number)
}

/// The identity of a run: `command`, the model's digest and `settings` (the options that
/// change an image's outputs).
pub fn run_info(
    command: String,
    model: &str,
    session: &Session,
    settings: String,
) -> Result<RunInfo> {
    Ok(RunInfo::new(
        command,
        model.to_string(),
        dataset::model_digest(session)?,
        settings,
    ))
}

/// Draws the run's progress on stderr: a live line on a terminal, a plain line every
/// `PLAIN_EVERY` otherwise (a batch job's log).
pub fn progress(label: String) -> impl FnMut(Progress) {
    const PLAIN_EVERY: Duration = Duration::from_secs(10);
    const LIVE_EVERY: Duration = Duration::from_millis(200);
    let live = std::io::stderr().is_terminal();
    let mut last: Option<Duration> = None;
    move |p: Progress| {
        let finished = p.done == p.todo;
        let every = if live { LIVE_EVERY } else { PLAIN_EVERY };
        if !finished && last.is_some_and(|t| p.elapsed < t + every) {
            return;
        }
        if finished && !live && p.done == 0 {
            return;
        }
        last = Some(p.elapsed);
        let line = describe(&label, &p);
        let mut err = std::io::stderr().lock();
        let _ = if live {
            write!(err, "\r\x1b[2K{}", crate::text::escape_controls(&line))
        } else {
            writeln!(err, "{}", crate::text::escape_controls(&line))
        };
        if live && finished {
            let _ = writeln!(err);
        }
        let _ = err.flush();
    }
}

/// `render gradcam: 120/1000 images (3 failed, 40 done before), 12.3 images/s, ~71 s left`.
fn describe(label: &str, p: &Progress) -> String {
    let secs = p.elapsed.as_secs_f64();
    let mut s = format!("{label}: {}/{} images", p.done, p.todo);
    let notes: Vec<String> = [
        (p.failed > 0).then(|| format!("{} failed", p.failed)),
        (p.resumed > 0).then(|| format!("{} done before", p.resumed)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !notes.is_empty() {
        s += &format!(" ({})", notes.join(", "));
    }
    if p.done > 0 && secs > 0.0 {
        let rate = p.done as f64 / secs;
        s += &format!(", {rate:.1} images/s");
        if p.done < p.todo {
            s += &format!(", ~{:.0} s left", (p.todo - p.done) as f64 / rate);
        }
    }
    s
}

impl Many {
    /// Runs `work` over the images with `session`'s model (images prepared as `preprocess`
    /// says, on the reader thread), then says how it ended (see [`Many::finish`]). `label`
    /// names the run in progress lines; `run` is its identity.
    pub fn execute(
        &self,
        label: &str,
        run: &RunInfo,
        session: &Session,
        preprocess: Preprocess,
        work: &mut dyn Work,
        json: bool,
    ) -> Result<()> {
        let plan = Plan {
            outdir: &self.outdir,
            run,
            shard: self.shard,
            cancel: self.cancel.clone(),
        };
        let graph = session.graph.clone();
        let prepare =
            move |item: &Item| Input::load(&graph, &Source::Image(item.path.clone()), preprocess);
        let outcome = dataset::run(
            &plan,
            &self.listing.items,
            prepare,
            work,
            &mut progress(label.to_string()),
        )?;
        self.finish(outcome, json)
    }

    /// What the run's end means for the process: done (0), some images failed (3), or stopped
    /// by a signal (128 + its number), each said in one line.
    fn finish(&self, outcome: Outcome, json: bool) -> Result<()> {
        let manifest = match self.shard {
            Some(s) => self.outdir.join(s.manifest_name()),
            None => self.outdir.join(dataset::manifest::MANIFEST),
        };
        let ok = outcome.ok + outcome.resumed;
        if json {
            super::print_json(&serde_json::json!({
                "images": outcome.images,
                "ok": ok,
                "failed": outcome.failed,
                "done_before": outcome.resumed,
                "interrupted": outcome.interrupted,
                "manifest": manifest,
                "shard": self.shard.map(|s| s.to_string()),
                // Resident memory after the first image and at the end: flat over a long run.
                "rss_mb": {
                    "after_first_image": outcome.rss_first_kib.map(|k| k / 1024),
                    "end": outcome.rss_end_kib.map(|k| k / 1024),
                },
            }));
        } else {
            let share = match self.shard {
                Some(s) => format!(" (shard {s}, of {} listed)", self.listing.items.len()),
                None => String::new(),
            };
            outln!(
                "{ok} of {} images done{share}, {} failed; manifest: {}",
                outcome.images,
                outcome.failed,
                manifest.display()
            );
        }
        if outcome.interrupted {
            let sig = self.signal.load(Ordering::Relaxed);
            let by = match sig {
                0 => String::new(),
                sig => format!(" by {}", signal_name(sig)),
            };
            return Err(Error::Incomplete {
                message: format!(
                    "stopped{by} after {} of {} images; rerun the same command to resume",
                    ok + outcome.failed,
                    outcome.images
                ),
                code: if sig == 0 {
                    1
                } else {
                    (128 + sig.min(127)) as u8
                },
            });
        }
        if outcome.failed > 0 {
            return Err(Error::Incomplete {
                message: format!(
                    "{} of {} images failed; their errors are in {} (status \"failed\"); fix them \
                     and rerun to do just those",
                    outcome.failed,
                    outcome.images,
                    manifest.display()
                ),
                code: 3,
            });
        }
        Ok(())
    }
}

fn signal_name(sig: usize) -> String {
    #[cfg(unix)]
    {
        match sig as i32 {
            libc::SIGINT => return "SIGINT".into(),
            libc::SIGTERM => return "SIGTERM".into(),
            libc::SIGHUP => return "SIGHUP".into(),
            _ => {}
        }
    }
    format!("signal {sig}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_says_rate_time_left_and_what_was_done_before() {
        let p = Progress {
            done: 50,
            todo: 150,
            failed: 2,
            resumed: 10,
            elapsed: Duration::from_secs(10),
        };
        assert_eq!(
            describe("render gradcam", &p),
            "render gradcam: 50/150 images (2 failed, 10 done before), 5.0 images/s, ~20 s left"
        );
    }
}
