//! A one-line progress report on stderr while a long method runs, when stderr is a terminal
//! (scripts and pipes get nothing; their JSON and stdout stay clean).

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::methods::{CancelToken, Control, Progress};

/// Redraws at most this often: enough to look live, little enough to cost nothing.
const EVERY: Duration = Duration::from_millis(100);

/// A control that draws `method: done/total unit, elapsed, ~left` on stderr, or a silent one.
pub fn control(method: &str) -> Control {
    if !std::io::stderr().is_terminal() {
        return Control::default();
    }
    let method = method.to_string();
    let start = Instant::now();
    let last = Mutex::new(None::<Instant>);
    Control::new(CancelToken::new(), move |p: Progress| {
        let now = Instant::now();
        let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
        let finished = p.done >= p.total;
        if !finished && last.is_some_and(|t| now - t < EVERY) {
            return;
        }
        *last = Some(now);
        let line = if finished {
            // Clear the line: the report that follows says what was done.
            "\r\x1b[2K".to_string()
        } else {
            format!("\r\x1b[2K{}", describe(&method, p, start.elapsed()))
        };
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
    })
}

/// `occlusion: 120/729 windows, 3.1 s, ~15.7 s left (objective 12.3)`.
fn describe(method: &str, p: Progress, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let left = (p.done > 0).then(|| secs / p.done as f64 * (p.total - p.done) as f64);
    let mut s = format!("{method}: {}/{} {}, {secs:.1} s", p.done, p.total, p.unit);
    if let Some(left) = left {
        s += &format!(", ~{left:.1} s left");
    }
    if let Some(o) = p.objective {
        s += &format!(" (objective {o:.4})");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_the_time_left_from_the_rate_so_far() {
        let p = Progress {
            done: 25,
            total: 100,
            unit: "steps",
            objective: Some(1.5),
        };
        assert_eq!(
            describe("actmax", p, Duration::from_secs(2)),
            "actmax: 25/100 steps, 2.0 s, ~6.0 s left (objective 1.5000)"
        );
    }
}
