#!/usr/bin/env python3
"""Opening Keras files: convscope against Keras itself, in the same run, as ratios
convscope / Keras (lower is better; 1.0 = as fast, as much memory).

    PY=$(../shared/tools/refenv.sh)   # or any python with keras 3 and torch
    cargo build --release && KERAS_BACKEND=torch "$PY" benches/compare_keras.py [--model vgg16]

It writes one keras.applications model (VGG16 by default: the seed article's, 138 M parameters,
553 MB of float32; random weights, nothing downloaded) in the three file forms to a temporary
folder, then for each form measures, in fresh processes, alternating the two sides (RUNS times,
medians):

- **open**: what it takes to see the model. Keras: `keras.saving.load_model` (a weights-only
  file: the keras.applications constructor + `load_weights`), which reads every weight.
  convscope: `convscope summary FILE`, which reads none (weights are read when a pass needs them).
- **predict**: open, then one forward pass on a 224x224 photograph. Keras: `load_model` +
  `model.predict` on the preprocessed picture. convscope: `convscope predict FILE --image P`,
  which also decodes and preprocesses the picture.

Time is wall-clock from before opening to after the result, inside the process for Keras (its
`import keras, torch` of ~2 s is left out) and for the whole process for convscope (start-up
included: it is milliseconds). Memory is the peak resident set: for Keras, the peak (VmHWM)
minus the resident set after the imports (reset through /proc/self/clear_refs, as
benches/memory.rs does); for convscope, the child's whole peak (ru_maxrss). Both count the pages of
a memory-mapped file that were read.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("CONVSCOPE_BIN", ROOT / "target" / "release" / "convscope"))
IMAGE = ROOT / "demo" / "images" / "coffee.png"
MODEL = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else "vgg16"
RUNS = int(os.environ.get("RUNS", "3"))
CTORS = {"vgg16": "VGG16", "resnet50": "ResNet50", "mobilenet_v2": "MobileNetV2"}
PREPROCESS = {"vgg16": "vgg16", "resnet50": "resnet50", "mobilenet_v2": "mobilenet_v2"}

KERAS_CHILD = r"""
import os, sys, time
os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np, keras, torch  # noqa: E401
from PIL import Image

def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return float(line.split()[1]) / 1024
    raise SystemExit(f"no {field}")

op, path, ctor, prep, image = sys.argv[1:6]
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
t0 = time.perf_counter()
if path.endswith(".weights.h5") or path.endswith("_legacy.h5"):
    model = getattr(keras.applications, ctor)(weights=None)
    model.load_weights(path)
else:
    model = keras.saving.load_model(path, compile=False)
if op == "predict":
    size = model.inputs[0].shape[1:3]
    x = np.asarray(Image.open(image).convert("RGB").resize(size[::-1]), dtype="float32")[None]
    x = getattr(keras.applications, prep).preprocess_input(x)
    model.predict(x, verbose=0)
elapsed = time.perf_counter() - t0
print(elapsed, status("VmHWM:") - before)
"""


def keras_side(op, path):
    out = subprocess.run(
        [sys.executable, "-c", KERAS_CHILD, op, str(path), CTORS[MODEL], PREPROCESS[MODEL], str(IMAGE)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return float(out[-2]), float(out[-1])


CONVSCOPE_CHILD = r"""
import resource, subprocess, sys, time
t0 = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
elapsed = time.perf_counter() - t0
print(elapsed, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""


def convscope_side(op, path):
    cmd = [str(BIN), "summary", str(path)]
    if op == "predict":
        cmd = [str(BIN), "predict", str(path), "--image", str(IMAGE)]
    out = subprocess.run(
        [sys.executable, "-c", CONVSCOPE_CHILD, *cmd], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def write_forms(folder: Path) -> dict:
    """The model in each form, written by Keras in a child process (so that this process stays
    small)."""
    script = rf"""
import os
os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
from keras.src.legacy.saving import legacy_h5_format
import h5py
keras.utils.set_random_seed(0)
m = getattr(keras.applications, "{CTORS[MODEL]}")(weights=None)
m.save(r"{folder}/m.keras")
m.save(r"{folder}/m.h5")
with h5py.File(r"{folder}/m_legacy.h5", "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, m)
"""
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True)
    return {
        ".keras archive": folder / "m.keras",
        "legacy full .h5": folder / "m.h5",
        "weights-only .h5 (keras.applications' layout)": folder / "m_legacy.h5",
    }


def main():
    if not BIN.exists():
        raise SystemExit(f"{BIN} is missing: run cargo build --release first")
    print(f"{MODEL}, {RUNS} runs each, medians; ratio = convscope / Keras {__import__('keras').__version__}")
    print(f"{'form':<48} {'op':<8} {'Keras s':>8} {'ours s':>8} {'ratio':>6} {'Keras MB':>9} {'ours MB':>8} {'ratio':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        for form, path in write_forms(Path(tmp)).items():
            for op in ("open", "predict"):
                ks, cs = [], []
                for _ in range(RUNS):
                    ks.append(keras_side(op, path))
                    cs.append(convscope_side(op, path))
                kt, km = statistics.median(k[0] for k in ks), statistics.median(k[1] for k in ks)
                ct, cm = statistics.median(c[0] for c in cs), statistics.median(c[1] for c in cs)
                print(f"{form:<48} {op:<8} {kt:8.2f} {ct:8.2f} {ct / kt:6.2f} {km:9.0f} {cm:8.0f} {cm / km:6.2f}")


if __name__ == "__main__":
    main()
