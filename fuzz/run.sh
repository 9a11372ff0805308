#!/usr/bin/env bash
# Fuzzes each named target for SECONDS on one core, one after another, and appends a line per
# run to fuzz/runs.log: when it ended, target, seconds it ran, the CPU seconds it got (less than
# the wall time when the machine was shared), executions, corpus size, result.
# Exits non-zero when a target crashed (its input is in fuzz/artifacts/, its last output in
# fuzz/artifacts/TARGET-last.log).
#   fuzz/run.sh SECONDS [TARGET…]      (default: every target)
# FUZZ_ARGS adds libFuzzer options (CI: a fixed seed and run count, so that it is repeatable);
# FUZZ_BUILD_ARGS adds `cargo fuzz build` options (CI: --codegen-units 16, see .ci/run).
# Builds first (cargo-fuzz on stable Rust through RUSTC_BOOTSTRAP=1; no sanitizer, debug
# assertions and overflow checks on: the code is safe Rust, and throughput finds more).
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET…]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(onnx checkpoint keras pickle safetensors npy image labels)
[ -d corpus ] || ./seed.sh >/dev/null
# shellcheck disable=SC2086 # FUZZ_BUILD_ARGS is a list of options
RUSTC_BOOTSTRAP=1 cargo fuzz build -s none -a ${FUZZ_BUILD_ARGS:-} >/dev/null
bin=target/x86_64-unknown-linux-gnu/release
mkdir -p artifacts
crashed=0
for t in "${targets[@]}"; do
    log=$(mktemp)
    cpu=$(mktemp)
    start=$SECONDS
    set +e
    timer=()
    [ -x /usr/bin/time ] && timer=(/usr/bin/time -o "$cpu" -f '%U %S')
    "${timer[@]}" "$bin/$t" "corpus/$t" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="artifacts/$t-" ${FUZZ_ARGS:-} >"$log" 2>&1
    rc=$?
    set -e
    execs=$(grep -o 'number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cpus=$(awk 'END { if (NR) printf "%d", $1 + $2; else printf "?" }' "$cpu")
    result=$([ $rc -eq 0 ] && echo "no crash" || echo "CRASH (exit $rc): $(ls -t artifacts | head -1)")
    echo "$(date -u +%FT%TZ) $t $((SECONDS - start))s cpu=${cpus}s execs=$execs corpus=$(ls "corpus/$t" | wc -l) $result" | tee -a runs.log
    if [ $rc -ne 0 ]; then
        crashed=1
        tail -60 "$log" > "artifacts/$t-last.log"
        cat "artifacts/$t-last.log" >&2
    fi
    rm -f "$log" "$cpu"
done
exit $crashed
