#!/usr/bin/env python3
"""Times PyTorch (+ captum, pytorch-grad-cam) on what `cargo bench` times, in the same run, and
prints the ratios convscope / reference (lower is better; 1.0 = as fast).

    PY=$(../shared/tools/refenv.sh)   # or any python with torch, torchvision, captum, grad-cam
    "$PY" benches/compare_torch.py [--quick] [--only forward|methods|memory|trust|dataset]

The two sides alternate: for each model (and, for the methods, each method) it runs the Rust
benchmark for just that row group (`cargo bench`, writing target/convscope_*.json) and then the
reference, so that the two figures of a ratio are taken a minute apart, not half an hour: on
these shared VMs the machine's speed drifts by tens of percent within an hour. Same thread
count (THREADS, default: all cores), models (torchvision vgg16, resnet50, mobilenet_v2 and
efficientnet_b0, random weights), input size, batch sizes, method settings and number of runs
(medians after a warm-up).

Activation maximization is 50 Adam steps on the pixels towards the class logit.

Occlusion (window 3,16,16, stride 3,8,8: 729 windows) and Score-CAM (one pass per channel) take
minutes: they run once each, without a warm-up, on both sides. convscope evaluates them in batches
of 16; captum's Occlusion is timed with perturbations_per_eval 16 (the ratio) and 1 (its default,
a second reference row), pytorch-grad-cam's ScoreCAM with batch_size 16.

Peak memory (`--only memory`, Linux): forward and forward + input gradient at batch 1 and 16, each
row once in a fresh process on both sides: after the model and input are loaded the peak resident
set is reset through /proc/self/clear_refs, the operation runs, and the row is the peak (VmHWM)
minus the resident set just before, in MB. Both sides compute the input's gradient alone (no
weight gradients), as the maps do.

Deletion and insertion (`--only trust`): RISE's 224 steps at 224x224 for one map, both games,
once each side; the reference is RISE's CausalMetric loop batched by 16 with torch.no_grad.

Whole datasets (`--only dataset`): 256 pictures of 224x224 (crops of the demo's photographs,
made once under target/bench_dataset/), explained and written as PNG + NPY, against what a user
writes instead: a DataLoader loop (2 workers, batch 16, torchvision's resize 256 + centre crop
224, as convscope does for the zoo's models) with pytorch-grad-cam's GradCAM or captum's
Saliency on the top class, saving each map with np.save and its picture with PIL. Each side
runs once in a fresh process, convscope first (once per `--images-per-pass` in
DATASET_PER_PASS: 1, its CPU default, and 4); the rows are images per second (higher is
better; the ratio is convscope's time / the reference's, below 1 is faster) and the peak resident set
in MB (GNU time's maximum resident set: for the reference, its main process or its largest
DataLoader worker, whichever is larger — not their sum, in its favour).

On a GPU (`CONVSCOPE_BENCH_DEVICE=cuda:0`, as benches/gpu_check.sh runs it): both sides compute
there (`cargo bench --features cuda`; the models and inputs `.to("cuda:0")`), each timed call
ends with the device synchronized, and only the forward and methods rows run (memory, trust
and dataset measure the CPU). TF32 stays off on both sides, their default.

Limit a run with the environment variables benches/common reads, passed on to cargo bench:
CONVSCOPE_BENCH_METHODS=occlusion,scorecam, CONVSCOPE_BENCH_MODELS=vgg16, and, for smoke tests
only, CONVSCOPE_BENCH_SIZE=32 (at sizes other than 224 the two VGG16 classifiers differ).
"""
import json
import os
import statistics
import subprocess
import sys
import time

# pytorch-grad-cam's ScoreCAM draws a progress bar; tqdm reads this when first imported (torch.hub)
os.environ.setdefault("TQDM_DISABLE", "1")
import torch  # noqa: E402
import torchvision  # noqa: E402

QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1] if "--only" in sys.argv else None
RUNS, BIG_BATCH = (1, 2) if QUICK else (5, 16)
SMOOTHGRAD_SAMPLES, IG_STEPS, ACTMAX_STEPS = 10, 20, 50  # as benches/methods.rs
THREADS = int(os.environ.get("THREADS", os.cpu_count() or 1))
OCCLUSION_WINDOW, OCCLUSION_STRIDE, LONG_BATCH = (3, 16, 16), (3, 8, 8), 16  # as benches/methods.rs
SIZE = int(os.environ.get("CONVSCOPE_BENCH_SIZE") or 224)
TRUST_BATCH = 16  # as benches/trust.rs
DEVICE = torch.device(os.environ.get("CONVSCOPE_BENCH_DEVICE") or "cpu")
CUDA = DEVICE.type == "cuda"


def sync():
    if CUDA:
        torch.cuda.synchronize(DEVICE)


def selected(var):
    """The comma-separated names in the environment variable `var`, or None (= all)."""
    items = [v.strip() for v in os.environ.get(var, "").split(",") if v.strip()]
    return items or None


# What this run covers (None = all). `compare` narrows them to one model and method at a time.
METHODS, MODELS = selected("CONVSCOPE_BENCH_METHODS"), selected("CONVSCOPE_BENCH_MODELS")
# The methods with a reference, in the order they are timed (a superset of what benches/methods.rs
# times; `occlusion_plain` runs only when named, as there).
METHOD_ORDER = ["saliency", "guided", "deconvnet", "inputxgrad", "guided-gradcam", "gradcam",
                "gradcampp", "hirescam", "xgradcam", "layercam", "smoothgrad", "ig", "actmax",
                "occlusion", "scorecam"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_ms(runs, f):
    f()
    sync()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def once_ms(f):
    sync()
    t = time.perf_counter()
    f()
    sync()
    return (time.perf_counter() - t) * 1e3


ARCHS = ["vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0"]


def models():
    for name in ARCHS:
        if MODELS and name not in MODELS:
            continue
        model = getattr(torchvision.models, name)(weights=None).eval().to(DEVICE)
        for m in model.modules():  # captum's hooks need out-of-place activations
            if hasattr(m, "inplace"):
                m.inplace = False
        # convscope's default CAM layer: the last one with a spatial output (VGG16's block5_pool,
        # ResNet50's last block, the mobile networks' last Conv-BN-activation)
        layer = model.layer4[-1] if name == "resnet50" else model.features[-1]
        yield name, model, layer


def forward_times():
    out = {}
    for name, model, _ in models():
        x1 = torch.randn(1, 3, SIZE, SIZE, device=DEVICE)
        xb = torch.randn(BIG_BATCH, 3, SIZE, SIZE, device=DEVICE)
        with torch.no_grad():
            out[f"{name}/forward_b1"] = median_ms(RUNS, lambda: model(x1))
            out[f"{name}/forward_b{BIG_BATCH}"] = median_ms((RUNS + 1) // 2, lambda: model(xb))

        def input_grad(batch):
            x = batch.clone().requires_grad_(True)
            # The input's gradient alone, as convscope computes it and captum's Saliency asks
            # for it (torch.autograd.grad): `.backward()` would add every weight's gradient.
            torch.autograd.grad(model(x)[:, 0].sum(), x)

        out[f"{name}/forward_input_grad_b1"] = median_ms(RUNS, lambda: input_grad(x1))
        out[f"{name}/forward_input_grad_b{BIG_BATCH}"] = median_ms((RUNS + 1) // 2,
                                                                   lambda: input_grad(xb))
    return out


def status_kb(field):
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field))
    return float(line.split()[1])


def memory_row(key):
    """In a child process: one operation's peak memory above the loaded state, in MB."""
    name, row = key.split("/")
    model = next(m for n, m, _ in models() if n == name)
    batch = 1 if row in ("forward_b1", "forward_input_grad_b1") else BIG_BATCH
    x = torch.randn(batch, 3, SIZE, SIZE)
    before = status_kb("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    if row.startswith("forward_input_grad"):
        x.requires_grad_(True)
        torch.autograd.grad(model(x)[:, 0].sum(), x)  # no weight gradients, as in forward_times
    else:
        with torch.no_grad():
            model(x)
    print((status_kb("VmHWM:") - before) / 1024)


def memory_times():
    out = {}
    for name in ARCHS:
        if MODELS and name not in MODELS:
            continue
        for row in ("forward_b1", f"forward_b{BIG_BATCH}", "forward_input_grad_b1",
                    f"forward_input_grad_b{BIG_BATCH}"):
            key = f"{name}/{row}"
            child = subprocess.run([sys.executable, __file__, "--memory-row", key]
                                   + (["--quick"] if QUICK else []),
                                   capture_output=True, text=True, check=True)
            out[key] = float(child.stdout.split()[-1])
    return out


def method_times():
    from captum.attr import (Deconvolution, GuidedBackprop, GuidedGradCam, InputXGradient,
                             IntegratedGradients, NoiseTunnel, Occlusion, Saliency)
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    out = {}
    for name, model, layer in models():
        x = torch.randn(1, 3, SIZE, SIZE, device=DEVICE)
        t = int(model(x).argmax())
        stdev = float(0.15 * (x.max() - x.min()))
        runs_long = (RUNS + 1) // 2

        def timed(method, runs, f):
            if not METHODS or method in METHODS:
                out[f"{name}/{method}"] = median_ms(runs, f)

        timed("saliency", RUNS, lambda: Saliency(model).attribute(x, target=t, abs=False))
        timed("guided", RUNS, lambda: GuidedBackprop(model).attribute(x, target=t))
        timed("deconvnet", RUNS, lambda: Deconvolution(model).attribute(x, target=t))
        timed("inputxgrad", RUNS, lambda: InputXGradient(model).attribute(x, target=t))
        timed("guided-gradcam", RUNS, lambda: GuidedGradCam(model, layer).attribute(x, target=t))
        for key, cls in [("gradcam", GradCAM), ("gradcampp", GradCAMPlusPlus), ("hirescam", HiResCAM),
                         ("xgradcam", XGradCAM), ("layercam", LayerCAM)]:
            cam = cls(model=model, target_layers=[layer])
            timed(key, RUNS, lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(t)]))
        nt = NoiseTunnel(Saliency(model))
        timed("smoothgrad", runs_long, lambda: nt.attribute(
            x, target=t, nt_type="smoothgrad", nt_samples=SMOOTHGRAD_SAMPLES, nt_samples_batch_size=5,
            stdevs=stdev, abs=False))
        ig = IntegratedGradients(model)
        timed("ig", runs_long, lambda: ig.attribute(x, target=t, n_steps=IG_STEPS, internal_batch_size=10))
        def actmax():
            # Adam on the pixels (lr 0.05) towards the class logit, as the performance issue
            # measured it; convscope's lucid recipe adds its parameterization and transforms.
            # The weights are frozen for it: `.backward()` would otherwise compute every
            # weight's gradient each step, which convscope does not (and which flattered
            # convscope's ratio before 2026-12-08).
            img = (torch.randn(1, 3, SIZE, SIZE, device=DEVICE) * 0.01).requires_grad_(True)
            opt = torch.optim.Adam([img], lr=0.05)
            model.requires_grad_(False)
            try:
                for _ in range(ACTMAX_STEPS):
                    opt.zero_grad()
                    (-model(img)[0, t]).backward()
                    opt.step()
            finally:
                model.requires_grad_(True)

        if not METHODS or "actmax" in METHODS:
            out[f"{name}/actmax"] = once_ms(actmax)
        if not METHODS or "occlusion" in METHODS:
            occ = Occlusion(model)
            for ppe, key in ((LONG_BATCH, "occlusion"), (1, "occlusion ppe=1")):
                out[f"{name}/{key}"] = once_ms(lambda: occ.attribute(
                    x, target=t, sliding_window_shapes=OCCLUSION_WINDOW, strides=OCCLUSION_STRIDE,
                    baselines=0, perturbations_per_eval=ppe))
        if not METHODS or "scorecam" in METHODS:
            sc = ScoreCAM(model=model, target_layers=[layer])
            sc.batch_size = LONG_BATCH
            out[f"{name}/scorecam"] = once_ms(lambda: sc(input_tensor=x, targets=[ClassifierOutputTarget(t)]))
    return out


def causal_curve(model, x, target, order, step, start, finish):
    """The target's softmax probability after 0, 1, ..., n steps of RISE's game from `start`
    towards `finish` (the pixels of `order`, `step` at a time), in batches of TRUST_BATCH: what
    a PyTorch user writes (RISE's CausalMetric, batched)."""
    hw = x.shape[2] * x.shape[3]
    n = (hw + step - 1) // step
    cur, fin = start.clone().view(3, hw), finish.view(3, hw)
    probs, batch = [], []
    with torch.no_grad():
        for i in range(n + 1):
            batch.append(cur.clone().view(1, *x.shape[1:]))
            if len(batch) == TRUST_BATCH or i == n:
                probs.append(torch.softmax(model(torch.cat(batch)), dim=1)[:, target])
                batch = []
            if i < n:
                coords = order[i * step:(i + 1) * step]
                cur[:, coords] = fin[:, coords]
    return torch.cat(probs)


def trust_times():
    """Deletion and insertion (224 steps, RISE's blur substrate) for one map, as
    benches/trust.rs times them."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    impulse = np.zeros((11, 11))
    impulse[5, 5] = 1
    kern = torch.zeros(3, 3, 11, 11)
    for c in range(3):
        kern[c, c] = torch.from_numpy(gaussian_filter(impulse, 5).astype("float32"))
    out = {}
    for name, model, _ in models():
        x = torch.randn(1, 3, SIZE, SIZE)
        with torch.no_grad():
            target = int(model(x).argmax())
        order = torch.randperm(SIZE * SIZE, generator=torch.Generator().manual_seed(2))
        step = (SIZE * SIZE + 223) // 224

        def both():
            causal_curve(model, x, target, order, step, x, torch.zeros_like(x))
            blurred = torch.nn.functional.conv2d(x, kern, padding=5)
            causal_curve(model, x, target, order, step, blurred, x)

        out[f"{name}/deletion_insertion"] = once_ms(both)
    return out


DATASET_IMAGES, DATASET_BATCH, DATASET_WORKERS = 256, 16, 2
DATASET_METHODS = ["gradcam", "saliency"]
DATASET_ARCHS = ["resnet50", "mobilenet_v2"]
DATASET_PER_PASS = [1, 4]


def dataset_pictures():
    """DATASET_IMAGES crops of 224x224 from the demo's photographs, made once."""
    from PIL import Image

    folder = os.path.join(ROOT, "target", "bench_dataset", "images")
    if len(os.listdir(folder) if os.path.isdir(folder) else []) == DATASET_IMAGES:
        return folder
    os.makedirs(folder, exist_ok=True)
    photos = [Image.open(os.path.join(ROOT, "demo", "images", n)).convert("RGB")
              for n in ("chelsea.png", "coffee.png", "rocket.jpg")]
    gen = torch.Generator().manual_seed(0)
    for i in range(DATASET_IMAGES):
        photo = photos[i % len(photos)]
        side = int(torch.randint(150, min(photo.size) + 1, (1,), generator=gen))
        x = int(torch.randint(0, photo.size[0] - side + 1, (1,), generator=gen))
        y = int(torch.randint(0, photo.size[1] - side + 1, (1,), generator=gen))
        crop = photo.crop((x, y, x + side, y + side)).resize((224, 224), Image.BILINEAR)
        crop.save(os.path.join(folder, f"{i // 64:02d}_{i:03d}.jpg"), quality=90)
    return folder


def peak_run(cmd):
    """Runs `cmd` under GNU time; returns (seconds, peak resident set in MB). Not os.wait4's
    ru_maxrss: a child forked from this process counts this process's pages (torch's ~600 MB)
    until it execs, so every command would seem to need at least that."""
    import tempfile

    with tempfile.NamedTemporaryFile("r") as peak:
        t = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name] + cmd, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - t
        return seconds, int(peak.read().split()[-1]) / 1024


def dataset_reference(arch, method, folder, out):
    """What a PyTorch user writes: a DataLoader loop, maps saved as .npy and .png."""
    import numpy as np
    from PIL import Image
    from torchvision import transforms

    torch.set_num_threads(THREADS)
    model = dict((n, (m, layer)) for n, m, layer in models())[arch]
    net, layer = model
    tf = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()])
    norm = transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    paths = sorted(os.path.join(folder, n) for n in os.listdir(folder))

    class Pictures(torch.utils.data.Dataset):
        def __len__(self):
            return len(paths)

        def __getitem__(self, i):
            rgb = tf(Image.open(paths[i]).convert("RGB"))
            return norm(rgb), rgb, i

    loader = torch.utils.data.DataLoader(Pictures(), batch_size=DATASET_BATCH,
                                         num_workers=DATASET_WORKERS)
    if method == "gradcam":
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.image import show_cam_on_image

        cam = GradCAM(model=net, target_layers=[layer])
        explain = lambda x: cam(input_tensor=x, targets=None)  # noqa: E731 (top class)
    else:
        from captum.attr import Saliency
        from pytorch_grad_cam.utils.image import show_cam_on_image

        sal = Saliency(net)

        def explain(x):
            with torch.no_grad():
                target = net(x).argmax(1)
            return sal.attribute(x.requires_grad_(True), target=target, abs=False).detach().numpy()
    os.makedirs(out, exist_ok=True)
    for x, rgb, idx in loader:
        maps = explain(x)
        for m, picture, i in zip(maps, rgb, idx.tolist()):
            stem = os.path.join(out, os.path.basename(paths[i]).rsplit(".", 1)[0])
            np.save(f"{stem}.{method}.npy", m)
            heat = np.abs(m).max(0) if m.ndim == 3 else m
            heat = heat / max(float(heat.max()), 1e-12)
            shown = show_cam_on_image(picture.permute(1, 2, 0).numpy(), heat.astype(np.float32), use_rgb=True)
            Image.fromarray(shown).save(f"{stem}.{method}.png")


def compare_dataset():
    """`render METHOD --arch ARCH --images DIR -o OUT --npy` against the DataLoader loop."""
    import shutil

    folder = dataset_pictures()
    binary = os.path.join(ROOT, "target", "release", "convscope")
    subprocess.run(["cargo", "build", "--release"], cwd=ROOT, check=True)
    per_pass = " / ".join(str(n) for n in DATASET_PER_PASS)
    print(f"\n{'dataset (' + str(DATASET_IMAGES) + ' images)':<30} "
          f"{'convscope img/s (' + per_pass + ' a pass)':>30} {'reference img/s':>16} "
          f"{'ratios':>12} {'peak MB (c ' + per_pass + ' / r)':>24}"
          f"   (torch {torch.__version__}, "
          f"{torch.cuda.get_device_name(DEVICE) if CUDA else f'{THREADS} threads'})", flush=True)
    for arch in [a for a in DATASET_ARCHS if not MODELS or a in MODELS]:
        for method in [m for m in DATASET_METHODS if not METHODS or m in METHODS]:
            outs = [os.path.join(ROOT, "target", "bench_dataset", side) for side in ("ours", "theirs")]
            for o in outs:
                shutil.rmtree(o, ignore_errors=True)
            ours = []
            for n in DATASET_PER_PASS:
                shutil.rmtree(outs[0], ignore_errors=True)
                ours.append(peak_run([binary, "render", method, "--arch", arch, "--images", folder,
                                      "-o", outs[0], "--npy", "--images-per-pass", str(n)]))
            theirs = peak_run([sys.executable, __file__, "--dataset-ref", arch, method, folder, outs[1]])
            rate = lambda s: DATASET_IMAGES / s  # noqa: E731
            rates = " / ".join(f"{rate(o[0]):.2f}" for o in ours)
            ratios = " / ".join(f"{o[0] / theirs[0]:.2f}" for o in ours)
            peaks = " / ".join(f"{o[1]:.0f}" for o in ours)
            print(f"{arch + '/' + method:<30} {rates:>30} {rate(theirs[0]):>16.2f} {ratios:>12} "
                  f"{peaks + ' / ' + format(theirs[1], '.0f'):>24}", flush=True)


def compare(bench, reference, unit="ms", per_method=False):
    """Runs `cargo bench --bench <bench>` and `reference` alternately, one model (and with
    `per_method`, one method) at a time, and prints each group's ratios as soon as it has them."""
    global METHODS, MODELS
    path = os.path.join(ROOT, "target", f"convscope_{bench}.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    features = ["--features", "cuda"] if CUDA else []
    quick = ["--quick"] if QUICK else []
    bin_dir = os.environ.get("CONVSCOPE_BENCH_BIN_DIR")
    if bin_dir:  # prebuilt bench programs (benches/gpu_check.sh run, on a machine without cargo)
        cmd = [os.path.join(bin_dir, bench), "--json", path] + quick
    else:
        cmd = ["cargo", "bench", "--bench", bench] + features + ["--", "--json", path] + quick
        subprocess.run(["cargo", "bench", "--bench", bench, "--no-run"] + features, cwd=ROOT,
                       check=True)
    print(f"\n{'benchmark':<36} {'convscope ' + unit:>13} {'reference ' + unit:>13} {'ratio':>7}"
          f"   (torch {torch.__version__}, {THREADS} threads)", flush=True)
    run_models, run_methods = MODELS, METHODS
    method_groups = ([[m] for m in (run_methods or METHOD_ORDER)] if per_method
                     else [run_methods])
    for model in [m for m in ARCHS if not run_models or m in run_models]:
        for methods in method_groups:
            env = dict(os.environ, CONVSCOPE_BENCH_MODELS=model)
            if methods:
                env["CONVSCOPE_BENCH_METHODS"] = ",".join(methods)
            subprocess.run(cmd, cwd=ROOT, check=True, env=env, stdout=subprocess.DEVNULL)
            ours = json.load(open(path))
            if not ours:  # nothing of ours in this group (a method without a Rust row)
                continue
            MODELS, METHODS = [model], methods
            try:
                theirs = reference()
            finally:
                MODELS, METHODS = run_models, run_methods
            for key, ms in ours.items():
                # the reference with the same settings, then its variants ("vgg16/occlusion ppe=1")
                for ref_key in [key] + sorted(k for k in theirs if k.startswith(key + " ")):
                    ref = theirs.get(ref_key)
                    if ref:
                        print(f"{ref_key:<36} {ms:>13.1f} {ref:>13.1f} {ms / ref:>7.2f}", flush=True)


def main():
    torch.set_num_threads(THREADS)
    if "--dataset-ref" in sys.argv:
        at = sys.argv.index("--dataset-ref")
        dataset_reference(*sys.argv[at + 1:at + 5])
        return
    if "--memory-row" in sys.argv:
        memory_row(sys.argv[sys.argv.index("--memory-row") + 1])
        return
    if ONLY in (None, "forward"):
        compare("forward", forward_times)
    if ONLY in (None, "methods"):
        compare("methods", method_times, per_method=True)
    if CUDA and ONLY not in (None, "forward", "methods"):
        sys.exit(f"--only {ONLY} measures the CPU; on {DEVICE} only forward and methods run")
    if CUDA:  # the other groups measure the CPU
        return
    if ONLY in (None, "memory"):
        compare("memory", memory_times, unit="MB")
    if ONLY in (None, "trust"):
        compare("trust", trust_times)
    if ONLY in (None, "dataset"):
        compare_dataset()


if __name__ == "__main__":
    main()
