//! End to end in a real terminal: tmux runs the binary on the demo model, the test types keys
//! into it and reads the screen back. It moves to a convolution, opens the Grad-CAM view,
//! waits for the map, quits, and checks that the terminal was given back (main screen, cooked
//! mode). `.ci/run` installs tmux and points `CONVSCOPE_E2E_BIN` at the release binary; without
//! it the test profile's binary runs.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "e2e"])
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "e2e"];
        args.extend(keys);
        self.cmd(&args);
    }

    /// Waits until the screen satisfies `ok` (or fails with the screen after `secs`).
    fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(secs) {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_interface_runs_in_tmux_and_gives_the_terminal_back() {
    if !tmux_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have tmux (.ci/run installs it)"
        );
        eprintln!("skipped: tmux is not installed");
        return;
    }
    let bin = std::env::var("CONVSCOPE_E2E_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_convscope").to_string());
    let tmux = Tmux {
        socket: format!("convscope-e2e-{}", std::process::id()),
    };
    // After the interface exits, the shell prints its status and the tty's line discipline.
    let script = format!(
        "'{bin}' --export-dir /tmp; echo \"exit=$?\"; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 600"
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "e2e",
        "-x",
        "120",
        "-y",
        "40",
        "sh",
        "-c",
        &script,
    ]);
    let screen = tmux.wait("the first screen with its Grad-CAM", 120, |s| {
        s.contains("convscope") && s.contains("Model: demo") && s.contains("● ready")
    });
    assert!(screen.contains("top-5"), "{screen}");

    // To a convolution by search, then the Grad-CAM tab.
    tmux.keys(&["/", "block3_conv1", "Enter"]);
    tmux.wait("block3_conv1's layer pane", 30, |s| {
        s.contains("block3_conv1 (Conv2D)")
    });
    tmux.keys(&["7"]);
    // The picture is encoded on a worker thread after the job is done, so "ready" can show a
    // frame before the map is drawn: wait for the map itself.
    tmux.wait("Grad-CAM at block3_conv1, drawn", 120, |s| {
        s.contains("gradcam at block3_conv1")
            && s.contains("● ready")
            && s.contains("map [")
            && (!s.contains("half-blocks") || s.contains('▀'))
    });
    // The Trust view scores that map and the random one through the real runner's threads.
    tmux.keys(&["T"]);
    let screen = tmux.wait("the Trust table, every map scored", 120, |s| {
        s.contains("every map scored")
    });
    assert!(
        screen.contains("gradcam @block") || screen.contains("gradcam "),
        "{screen}"
    );
    assert!(
        screen.contains("random") && screen.contains("rand. ρ"),
        "{screen}"
    );
    tmux.keys(&["q"]);
    let screen = tmux.wait("the shell after quitting", 30, |s| {
        s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(screen.contains("exit=0"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "the terminal is back in cooked mode:\n{screen}"
    );
    let alternate = tmux.cmd(&["display-message", "-p", "-t", "e2e", "#{alternate_on}"]);
    assert_eq!(alternate.trim(), "0", "the alternate screen was left");
    assert!(
        !screen.contains("Model: demo"),
        "the interface is gone:\n{screen}"
    );
}
