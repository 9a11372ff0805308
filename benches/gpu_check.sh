#!/usr/bin/env bash
# Proves the CUDA build on a machine with an NVIDIA GPU: the reference tests on the GPU, then
# absolute times there (forward and forward + input gradient at batch 1 and 16; saliency,
# Grad-CAM and its family, SmoothGrad, IG, occlusion, Score-CAM and activation maximization on
# one image) for VGG16, ResNet50, MobileNetV2 and EfficientNet-B0 at 224x224, beside PyTorch +
# captum + pytorch-grad-cam on the same GPU when that python has them.
#
#   benches/gpu_check.sh [--quick]            on a GPU box with cargo: build, then run
#   benches/gpu_check.sh bundle               build only, into target/gpu-bundle.tar.xz (any
#                                             x86-64 Linux machine with cargo; the toolkit comes
#                                             from .ci/cuda-toolchain.sh unless nvcc is there)
#   benches/gpu_check.sh run BUNDLE [--quick] on a GPU box without cargo, from the repository's
#                                             root: run what `bundle` built (unpacked folder)
#
# CUDA_COMPUTE_CAP (default: the GPU's, from nvidia-smi; 90 for `bundle` without a GPU) picks
# the kernels' target. PY (default python3) is the python for the PyTorch comparison; the
# comparison is left out, and said so, when it lacks torch with CUDA, torchvision, captum or
# pytorch_grad_cam. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-target}
tests="onnx_reference maps_reference backward_fd zoo_reference occlusion_incremental device_generic lean_subject"

toolkit() {
    # nvcc from the machine when it has one (CUDA 12.x or 13.0-13.4), else CUDA 13.0 from PyPI.
    if command -v nvcc >/dev/null; then
        export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$(command -v nvcc)")")}
    elif [ -x "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" ]; then
        export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
    else
        CUDA_HOME=$(.ci/cuda-toolchain.sh --link)
        export CUDA_HOME
    fi
    export PATH="$CUDA_HOME/bin:$PATH"
    nvcc --version | tail -1
}

compute_cap() {
    nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .
}

build() {
    toolkit
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-$(compute_cap)}
    export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
    echo "building for compute capability $CUDA_COMPUTE_CAP" >&2
    cargo build --release --features cuda
    local tests_bin benches
    tests_bin=$(cargo test --release --features cuda --test it --no-run --message-format=json |
        sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    benches=$(cargo bench --features cuda --bench forward --bench methods --no-run \
        --message-format=json | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p')
    rm -rf "$target/gpu-bundle"
    mkdir -p "$target/gpu-bundle"
    cp "$target/release/convscope" "$target/gpu-bundle/"
    cp "$tests_bin" "$target/gpu-bundle/it"
    for b in $benches; do
        cp "$b" "$target/gpu-bundle/$(basename "$b" | sed 's/-[0-9a-f]*$//')"
    done
}

libraries() {
    # cuBLAS, cuRAND, NVRTC and the runtime, wherever this machine keeps them: the toolkit,
    # or the nvidia-* wheels beside PyTorch.
    local dirs="${CUDA_HOME:-/usr/local/cuda}/lib64:${CUDA_HOME:-/usr/local/cuda}/lib"
    local wheels
    wheels=$("${PY:-python3}" -c 'import nvidia, os, glob
print(":".join(sorted(glob.glob(os.path.join(nvidia.__path__[0], "*", "lib")))))' 2>/dev/null) || true
    export LD_LIBRARY_PATH="$dirs:${wheels}:${LD_LIBRARY_PATH:-}"
}

run() {
    # Goes on past a failure, so that one run on a borrowed GPU says everything; the exit status
    # says whether anything failed.
    local bundle=$1 quick=${2:-} failed=0
    nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
    libraries
    echo "== the demo on cuda:0"
    "$bundle/convscope" predict --device cuda:0 --json || failed=1
    echo "== the reference tests on cuda:0"
    # shellcheck disable=SC2086 # the test filters are words
    CARGO_MANIFEST_DIR=$root CONVSCOPE_TEST_DEVICE=cuda:0 "$bundle/it" $tests || failed=1
    echo "== times on cuda:0 (ms)"
    local py=${PY:-python3}
    if "$py" -c 'import torch, torchvision, captum, pytorch_grad_cam
assert torch.cuda.is_available()' 2>/dev/null; then
        for only in forward methods; do
            CONVSCOPE_BENCH_DEVICE=cuda:0 CONVSCOPE_BENCH_BIN_DIR=$bundle \
                "$py" benches/compare_torch.py --only $only $quick || failed=1
        done
    else
        echo "(no PyTorch comparison: $py lacks torch with CUDA, torchvision, captum or pytorch_grad_cam)"
        for b in forward methods; do
            CONVSCOPE_BENCH_DEVICE=cuda:0 "$bundle/$b" $quick || failed=1
        done
    fi
    return $failed
}

case "${1:-}" in
bundle)
    build
    tar -C "$target" -cJf "$target/gpu-bundle.tar.xz" gpu-bundle
    ls -la "$target/gpu-bundle.tar.xz"
    ;;
run)
    run "${2:?usage: $0 run BUNDLE [--quick]}" "${3:-}"
    ;;
"" | --quick)
    build
    run "$target/gpu-bundle" "${1:-}"
    ;;
*)
    sed -n '2,18p' "$0" >&2
    exit 2
    ;;
esac
