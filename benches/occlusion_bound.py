#!/usr/bin/env python3
"""How much cheaper exact incremental occlusion can be, per model: the multiply-adds of one full
pass against those of recomputing each layer only over the region an occluding window can
change, averaged over the window positions of the benchmark (window 16x16, stride 8, 224x224).

    PY=$(../shared/tools/refenv.sh)   # or any python with torch and torchvision
    "$PY" benches/occlusion_bound.py

It walks torchvision's modules in execution order (hooks on each convolution, pooling and dense
layer) and grows the changed rectangle through each window as convscope's incremental pass
does: a windowed layer changes every output whose window meets a changed input. Regions are
tracked per map size, and where a map size is written again (a residual block's branches) the
union is kept, which over-counts a 1x1 branch's region by a pixel or two: the ratios printed
are slightly low, not high.
Dense layers are counted in full (every output changes). No timing: this is arithmetic only.
"""
import math

import torch
import torchvision

SIZE, WINDOW, STRIDE = 224, 16, 8  # as benches/methods.rs (window 3,16,16, stride 3,8,8)


def layers(model):
    """(module, input shape, output shape) of each conv, max pool and dense layer, in order."""
    seen, hooks = [], []
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.MaxPool2d, torch.nn.Linear)):
            hooks.append(m.register_forward_hook(lambda m, i, o: seen.append((m, i[0].shape, o.shape))))
    with torch.no_grad():
        model(torch.zeros(1, 3, SIZE, SIZE))
    for h in hooks:
        h.remove()
    return seen


def pair(v):
    return v if isinstance(v, tuple) else (v, v)


def macs(m, out_area):
    if isinstance(m, torch.nn.Conv2d):
        kh, kw = m.kernel_size
        return m.in_channels // m.groups * m.out_channels * kh * kw * out_area
    if isinstance(m, torch.nn.Linear):
        return m.in_features * m.out_features
    return 0  # pooling: comparisons, not multiply-adds


def incremental_macs(seen, window_at):
    """Multiply-adds to recompute what a window at `window_at` (top, left) changes."""
    regions = {SIZE: tuple((p, p + WINDOW) for p in window_at)}
    total = 0
    for m, i, o in seen:
        if isinstance(m, torch.nn.Linear):
            total += macs(m, 1)
            continue
        h_in, h_out = i[2], o[2]
        k, s, p = pair(m.kernel_size), pair(m.stride), pair(m.padding)
        d = pair(m.dilation) if isinstance(m, torch.nn.Conv2d) else (1, 1)
        changed = regions.get(h_in, ((0, h_in), (0, h_in)))
        out = []
        for axis, (lo, hi) in enumerate(changed):
            span = (k[axis] - 1) * d[axis]
            # outputs o whose window [o·s − p, o·s − p + span] meets [lo, hi)
            first = max(0, math.ceil((lo + p[axis] - span) / s[axis]))
            last = min(h_out, (hi - 1 + p[axis]) // s[axis] + 1)
            out.append((first, max(first, last)))
        if h_out in regions and h_out == h_in:
            out = [(min(a[0], b[0]), max(a[1], b[1])) for a, b in zip(out, regions[h_out])]
        regions[h_out] = tuple(out)
        total += macs(m, (out[0][1] - out[0][0]) * (out[1][1] - out[1][0]))
    return total


def main():
    positions = range(0, SIZE - WINDOW + 1, STRIDE)
    for name in ["vgg16", "resnet50", "mobilenet_v2", "efficientnet_b0"]:
        seen = layers(getattr(torchvision.models, name)(weights=None).eval())
        full = sum(macs(m, o[2] * o[3] if len(o) == 4 else 1) for m, i, o in seen)
        inc = sum(incremental_macs(seen, (y, x)) for y in positions for x in positions)
        inc /= len(positions) ** 2
        print(f"{name:<16} full pass {full / 1e9:5.2f} GMAC, incremental {inc / 1e9:6.3f} GMAC per "
              f"occluded image: {full / inc:4.1f}x fewer")


if __name__ == "__main__":
    main()
