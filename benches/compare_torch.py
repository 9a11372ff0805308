#!/usr/bin/env python3
"""Times PyTorch (+ captum, pytorch-grad-cam) on what `cargo bench` times, in the same run, and
prints the ratios convscope / reference (lower is better; 1.0 = as fast).

    PY=$(../shared/tools/refenv.sh)   # or any python with torch, torchvision, captum, grad-cam
    "$PY" benches/compare_torch.py [--quick] [--only forward|methods]

It runs the Rust benchmarks first (writing target/convscope_*.json), then the references with the
same thread count (THREADS, default: all cores), models (torchvision vgg16 and resnet50, random
weights), input size, batch sizes, method settings and number of runs (medians after a warm-up).
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
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
RUNS, BIG_BATCH = (1, 2) if QUICK else (5, 16)
SMOOTHGRAD_SAMPLES, IG_STEPS = 10, 20  # as benches/methods.rs
THREADS = int(os.environ.get("THREADS", os.cpu_count() or 1))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_ms(runs, f):
    f()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def models():
    for name, ctor in [("vgg16", torchvision.models.vgg16), ("resnet50", torchvision.models.resnet50)]:
        model = ctor(weights=None).eval()
        for m in model.modules():  # captum's ReLU hooks need out-of-place ReLUs
            if isinstance(m, torch.nn.ReLU):
                m.inplace = False
        layer = model.avgpool if name == "vgg16" else model.layer4[-1]  # convscope's default layer
        yield name, model, layer


def forward_times():
    out = {}
    for name, model, _ in models():
        x1, xb = torch.randn(1, 3, 224, 224), torch.randn(BIG_BATCH, 3, 224, 224)
        with torch.no_grad():
            out[f"{name}/forward_b1"] = median_ms(RUNS, lambda: model(x1))
            out[f"{name}/forward_b{BIG_BATCH}"] = median_ms((RUNS + 1) // 2, lambda: model(xb))

        def input_grad():
            x = x1.clone().requires_grad_(True)
            model(x)[0, 0].backward()  # parameter grads too, as captum's Saliency computes them

        out[f"{name}/forward_input_grad_b1"] = median_ms(RUNS, input_grad)
    return out


def method_times():
    from captum.attr import (Deconvolution, GuidedBackprop, GuidedGradCam, InputXGradient,
                             IntegratedGradients, NoiseTunnel, Saliency)
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, XGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    out = {}
    for name, model, layer in models():
        x = torch.randn(1, 3, 224, 224)
        t = int(model(x).argmax())
        stdev = float(0.15 * (x.max() - x.min()))
        runs_long = (RUNS + 1) // 2
        out[f"{name}/saliency"] = median_ms(RUNS, lambda: Saliency(model).attribute(x, target=t, abs=False))
        out[f"{name}/guided"] = median_ms(RUNS, lambda: GuidedBackprop(model).attribute(x, target=t))
        out[f"{name}/deconvnet"] = median_ms(RUNS, lambda: Deconvolution(model).attribute(x, target=t))
        out[f"{name}/inputxgrad"] = median_ms(RUNS, lambda: InputXGradient(model).attribute(x, target=t))
        out[f"{name}/guided-gradcam"] = median_ms(
            RUNS, lambda: GuidedGradCam(model, layer).attribute(x, target=t))
        for key, cls in [("gradcam", GradCAM), ("gradcampp", GradCAMPlusPlus), ("hirescam", HiResCAM),
                         ("xgradcam", XGradCAM), ("layercam", LayerCAM)]:
            cam = cls(model=model, target_layers=[layer])
            out[f"{name}/{key}"] = median_ms(RUNS, lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(t)]))
        nt = NoiseTunnel(Saliency(model))
        out[f"{name}/smoothgrad"] = median_ms(runs_long, lambda: nt.attribute(
            x, target=t, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES, nt_samples_batch_size=5,
            stdevs=stdev, abs=False))
        ig = IntegratedGradients(model)
        out[f"{name}/ig"] = median_ms(runs_long, lambda: ig.attribute(
            x, target=t, n_steps=IG_STEPS, internal_batch_size=10))
    return out


def compare(bench, reference):
    path = os.path.join(ROOT, "target", f"convscope_{bench}.json")
    cmd = ["cargo", "bench", "--bench", bench, "--", "--json", path] + (["--quick"] if QUICK else [])
    subprocess.run(cmd, cwd=ROOT, check=True)
    ours = json.load(open(path))
    theirs = reference()
    print(f"\n{'benchmark':<36} {'convscope ms':>13} {'reference ms':>13} {'ratio':>7}"
          f"   (torch {torch.__version__}, {THREADS} threads)")
    for key, ms in ours.items():
        ref = theirs.get(key)
        if ref:
            print(f"{key:<36} {ms:>13.1f} {ref:>13.1f} {ms / ref:>7.2f}", flush=True)


def main():
    torch.set_num_threads(THREADS)
    if ONLY in (None, "forward"):
        compare("forward", forward_times)
    if ONLY in (None, "methods"):
        compare("methods", method_times)


if __name__ == "__main__":
    main()
