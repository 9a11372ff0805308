#!/usr/bin/env bash
# Seeds fuzz/corpus/TARGET/ for every target from the test fixtures and the demo's files, plus
# the committed regressions. The corpus itself is not committed: libFuzzer grows it, and this
# script (or a minimized copy kept by whoever fuzzes) starts it again.
set -euo pipefail
cd "$(dirname "$0")"
F=../tests/fixtures
for t in onnx checkpoint keras pickle safetensors npy image labels; do
    mkdir -p "corpus/$t"
    [ -d "regressions/$t" ] && cp regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
done
cp "$F"/nets/*.onnx corpus/onnx/
cp "$F"/checkpoints/tensors.zip.pth "$F"/checkpoints/tensors.legacy.pth \
   "$F"/checkpoints/wrapped.pth "$F"/checkpoints/malicious.pth corpus/checkpoint/
cp "$F"/checkpoints/tensors.legacy.pth "$F"/checkpoints/malicious.pth corpus/pickle/
# Keras HDF5 files under 200 KB: legacy full models of every layer, a dense-attribute config.
find "$F"/keras -name '*.h5' -size -200k -exec cp {} corpus/keras/ \;
python3 - "$F" <<'PY'
import json, struct, sys, zipfile, pathlib
fixtures = pathlib.Path(sys.argv[1])
# The pickles inside the zip checkpoints.
for name in ["tensors.zip.pth", "wrapped.pth"]:
    with zipfile.ZipFile(fixtures / "checkpoints" / name) as z:
        for entry in z.namelist():
            if entry.endswith("data.pkl"):
                pathlib.Path("corpus/pickle", name + ".data.pkl").write_bytes(z.read(entry))
# Small safetensors files: several dtypes, shapes and metadata.
def safetensors(tensors, meta=None):
    header, blobs, at = {}, b"", 0
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(data)]}
        blobs += data
        at += len(data)
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blobs
f32 = lambda *v: struct.pack(f"<{len(v)}f", *v)
seeds = {
    "one.safetensors": safetensors({"fc.weight": ("F32", [2, 2], f32(1, 2, 3, 4))}),
    "two.safetensors": safetensors({
        "conv1.weight": ("F16", [1, 1, 1, 2], b"\x00\x3c\x00\x40"),
        "bn.num_batches_tracked": ("I64", [], struct.pack("<q", 7)),
        "fc.bias": ("BF16", [2], b"\x80\x3f\x00\x40"),
    }, {"format": "pt"}),
}
for name, data in seeds.items():
    pathlib.Path("corpus/safetensors", name).write_bytes(data)
    pathlib.Path("corpus/checkpoint", name).write_bytes(data)
PY
# Forty small arrays, in a stable order. Read into an array, not piped into `head`: under
# pipefail, `find | head` fails with SIGPIPE as soon as there are more than head takes.
mapfile -t npys < <(find "$F" -name '*.npy' -size -4k | sort)
cp "${npys[@]:0:40}" corpus/npy/
cp ../demo/images/shapes/*.png "$F"/golden/*.png corpus/image/
head -c 20000 ../demo/images/rocket.jpg > corpus/image/rocket_head.jpg
cp ../demo/images/rocket.jpg corpus/image/
head -n 40 ../src/import/imagenet_classes.txt > corpus/labels/imagenet40.txt
printf 'cat\ndog\n\n  spaced  \nünïcödé\n' > corpus/labels/small.txt
for t in corpus/*; do echo "$t: $(ls "$t" | wc -l) files"; done
