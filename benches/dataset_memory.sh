#!/usr/bin/env bash
# Memory over a long run (issue 22): N copies of the demo's pictures (default 10,000) explained
# by `render gradcam --images` on the demo model; prints the resident memory after the first
# image and at the end (from the run's --json), and the peak (GNU time's maximum RSS).
#
#     benches/dataset_memory.sh [N] [METHOD]
#
# Needs the release binary (cargo build --release). Uses target/bench_memory/ (removed after).
set -euo pipefail
N=${1:-10000}
METHOD=${2:-gradcam}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/target/release/convscope"
WORK="$ROOT/target/bench_memory"
rm -rf "$WORK" && mkdir -p "$WORK/images"
trap 'rm -rf "$WORK"' EXIT
shapes=("$ROOT"/demo/images/shapes/*.png)
for ((i = 0; i < N; i++)); do
  dir="$WORK/images/$((i / 1000))"
  [ -d "$dir" ] || mkdir -p "$dir"
  cp "${shapes[i % ${#shapes[@]}]}" "$dir/$i.png"
done
/usr/bin/time -f "%M" -o "$WORK/peak" "$BIN" render "$METHOD" --images "$WORK/images" -o "$WORK/out" --json > "$WORK/report.json"
python3 - "$WORK/report.json" "$WORK/peak" "$N" "$METHOD" <<'PY'
import json, sys
report, peak = json.load(open(sys.argv[1])), int(open(sys.argv[2]).read().split()[-1]) // 1024
rss = report["rss_mb"]
print(f"{sys.argv[4]} over {sys.argv[3]} images: {report['ok']} ok, {report['failed']} failed; "
      f"resident {rss['after_first_image']} MB after the first image, {rss['end']} MB at the end; "
      f"peak {peak} MB")
PY
