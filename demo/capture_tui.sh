#!/usr/bin/env bash
# Prints a text capture of the interface on the demo model, as the README shows it: the release
# binary runs in a detached tmux (120x40, half-blocks), the script waits for the first map, sends
# the keys given as arguments (tmux send-keys names, e.g. `/ block3_conv1 Enter 7`), waits for
# the view again, prints the screen and quits.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/convscope
[ -x "$bin" ] || cargo build --release
sock="convscope-capture-$$"
trap 'tmux -L "$sock" kill-server 2>/dev/null || true' EXIT
tmux -L "$sock" new-session -d -s cap -x 120 -y 40 "$bin --graphics halfblocks; sleep 60"
wait_ready() {
  for _ in $(seq 600); do
    if tmux -L "$sock" capture-pane -p -t cap | grep -q "● ready"; then return 0; fi
    sleep 0.1
  done
  echo "the interface did not get ready" >&2
  exit 1
}
wait_ready
if [ $# -gt 0 ]; then
  tmux -L "$sock" send-keys -t cap "$@"
  sleep 0.5
  wait_ready
fi
tmux -L "$sock" capture-pane -p -t cap
tmux -L "$sock" send-keys -t cap q
