#!/usr/bin/env python3
"""Times PyTorch on what `cargo bench --bench forward` times, in the same run, and prints the
ratios convscope / PyTorch (lower is better; 1.0 = as fast as PyTorch).

    PY=$(../shared/tools/refenv.sh)   # or any python with torch + torchvision
    "$PY" benches/compare_torch.py [--quick]

It runs the Rust benchmark first (writing target/convscope_bench.json), then PyTorch with the
same thread count, models (torchvision vgg16, resnet50, random weights), input size, batch sizes
and number of runs (medians after one warm-up).
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torchvision

QUICK = "--quick" in sys.argv
RUNS, BIG_BATCH = (1, 2) if QUICK else (5, 16)
THREADS = int(os.environ.get("THREADS", os.cpu_count() or 1))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JSON = os.path.join(ROOT, "target", "convscope_bench.json")


def median_ms(runs, f):
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def torch_times():
    torch.set_num_threads(THREADS)
    out = {}
    for name, ctor in [("vgg16", torchvision.models.vgg16), ("resnet50", torchvision.models.resnet50)]:
        model = ctor(weights=None).eval()
        x1 = torch.randn(1, 3, 224, 224)
        xb = torch.randn(BIG_BATCH, 3, 224, 224)
        with torch.no_grad():
            out[f"{name}/forward_b1"] = median_ms(RUNS, lambda: model(x1))
            out[f"{name}/forward_b{BIG_BATCH}"] = median_ms((RUNS + 1) // 2, lambda: model(xb))

        def input_grad():
            x = x1.clone().requires_grad_(True)
            model(x)[0, 0].backward()  # parameters' grads too, as captum's Saliency does

        out[f"{name}/forward_input_grad_b1"] = median_ms(RUNS, input_grad)
    return out


def main():
    cmd = ["cargo", "bench", "--bench", "forward", "--", "--json", JSON] + (["--quick"] if QUICK else [])
    subprocess.run(cmd, cwd=ROOT, check=True)
    ours = json.load(open(JSON))
    theirs = torch_times()
    print(f"\n{'benchmark':<36} {'convscope ms':>13} {'pytorch ms':>11} {'ratio':>7}   (torch {torch.__version__}, {THREADS} threads)")
    for key, ms in ours.items():
        ref = theirs.get(key)
        if ref:
            print(f"{key:<36} {ms:>13.1f} {ref:>11.1f} {ms / ref:>7.2f}")


if __name__ == "__main__":
    main()
