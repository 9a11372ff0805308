#!/usr/bin/env bash
# A CUDA 13.0 toolchain from PyPI, for building `--features cuda` on a machine without NVIDIA's
# installer (CI has no GPU and no driver). Prints the toolkit's root, to use as CUDA_HOME:
#
#   root=$(.ci/cuda-toolchain.sh)          nvcc and headers: enough to compile (cargo check,
#                                          cargo clippy: build scripts run, nothing is linked)
#   root=$(.ci/cuda-toolchain.sh --link)   also what linking a runnable binary needs: cudart,
#                                          nvrtc, cuBLAS and cuRAND, under the unversioned
#                                          names the linker looks for (libcuda, the driver's,
#                                          must come from the machine's NVIDIA driver)
#
# Installed once into $CONVSCOPE_CUDA_PREFIX (default ~/.cache/convscope-cuda-13.0); later runs
# reuse it. Why 13.0: candle 0.11's cudarc knows CUDA up to 13.4 (13.5 fails its build script),
# and PTX made by 13.0 loads on every driver that runs CUDA 13 (R580 and later); the
# `cuda-toolkit` meta-package pins mutually consistent parts.
set -euo pipefail
version=13.0.2
parts=nvcc,cudart,crt,cccl,nvvm
link=false
case "${1:-}" in
--link) link=true parts="$parts,cublas,curand,nvrtc" ;;
"") ;;
*) echo "usage: $0 [--link]" >&2 && exit 2 ;;
esac
prefix=${CONVSCOPE_CUDA_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/convscope-cuda-13.0}
[ -x "$prefix/bin/pip" ] || python3 -m venv "$prefix" >&2
# pip answers at once when everything is there already.
"$prefix/bin/pip" install -q --disable-pip-version-check "cuda-toolkit[$parts]==$version" >&2
root=$("$prefix/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
[ -x "$root/bin/nvcc" ] || { echo "$0: no nvcc under $root after installing" >&2 && exit 1; }
if $link; then
    # The wheels carry libX.so.N only; `-lX` needs libX.so.
    for lib in "$root"/lib/lib*.so.*; do
        name=$(basename "$lib")
        ln -sf "$name" "$root/lib/${name%%.so.*}.so"
    done
    # libcuda is the driver's, often there as libcuda.so.1 only. Without a driver (a build
    # machine for a GPU box), a link stub as the toolkit's own stubs/libcuda.so: every driver
    # function cuda.h declares, under its plain and versioned names, each failing; its soname
    # makes the binary load the real libcuda.so.1 where it runs. Not on the run-time path.
    driver=$(/sbin/ldconfig -p 2>/dev/null | awk '/libcuda\.so\.1 /{print $NF; exit}')
    if [ -n "$driver" ]; then
        ln -sf "$driver" "$root/lib/libcuda.so"
    elif [ ! -e "$root/lib/stubs/libcuda.so" ]; then
        mkdir -p "$root/lib/stubs"
        {
            grep -ohE '\bcu[A-Z][A-Za-z0-9_]*\s*\(' "$root/include/cuda.h"
            for defines in "" -D__CUDA_API_VERSION_INTERNAL -DCUDA_API_PER_THREAD_DEFAULT_STREAM; do
                gcc -E -P $defines "$root/include/cuda.h" | grep -oE '\bcu[A-Z][A-Za-z0-9_]*\s*\('
            done
        } | tr -d '( ' | sort -u | sed 's/.*/int &(void) { return 999; }/' >"$root/lib/stubs/cuda_stub.c"
        gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" \
            "$root/lib/stubs/cuda_stub.c"
    fi
fi
echo "$root"
