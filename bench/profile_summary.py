#!/usr/bin/env python3
"""Per-op GPU time of profiled training steps, from a Chrome trace (train_throughput --profile).

  profile_summary.py TRACE.json [--steps 2] [--title NAME] [--top 15]

Every GPU kernel is put in one group, by its name and by the libtorch op that launched it (the
trace links each kernel to its op through "External id"): GEMMs, attention, our own fused kernels
(RMSNorm, GLU, NF4, RoPE, cross-entropy, AdamW, ...), and the elementwise/reduction/copy kernels of
plain libtorch ops by op name. Prints a markdown table: ms of GPU time per step, share of the GPU
time, kernel launches per step; then the GPU-busy fraction of the profiled span and the top kernels.
"""
import argparse
import collections
import json
import re

OURS = [
    ("RMSNorm (ours)", re.compile(r"rmsnorm", re.I)),
    ("GLU (ours)", re.compile(r"glu_(fwd|bwd|forward|backward)|swiglu|geglu", re.I)),
    ("NF4 dequant (ours)", re.compile(r"nf4", re.I)),
    ("RoPE (ours)", re.compile(r"rope", re.I)),
    ("cross-entropy (ours)", re.compile(r"cross_entropy|xent|lse_", re.I)),
    ("AdamW / grad norm (ours)", re.compile(r"adamw|grad_norm|multi_tensor|sumsq", re.I)),
]


def group_of(kernel, op):
    k = kernel.lower()
    if "flash" in k or "fmha" in k or "attention" in k or "attn" in k:
        return "attention"
    for name, rx in OURS:
        if rx.search(kernel):
            return name
    if any(s in k for s in ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm90_", "sm80_", "wgmma")):
        return "GEMM"
    if "memcpy" in k or "memset" in k:
        return "memcpy/memset"
    if op:
        return "torch: " + op.replace("aten::", "")
    return "other: " + kernel[:40]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--title", default="")
    p.add_argument("--top", type=int, default=15)
    a = p.parse_args()
    with open(a.trace) as f:
        events = json.load(f)["traceEvents"]
    ops = {}
    for e in events:
        if e.get("cat") == "cpu_op" and "args" in e and "External id" in e["args"]:
            ops[e["args"]["External id"]] = e["name"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset") and e.get("ph") == "X"]
    if not gpu:
        print("no GPU events in", a.trace)
        return
    groups = collections.defaultdict(lambda: [0.0, 0])
    kernels = collections.defaultdict(lambda: [0.0, 0])
    busy = 0.0
    for e in gpu:
        dur = float(e.get("dur", 0))
        op = ops.get(e.get("args", {}).get("External id"))
        g = group_of(e["name"], op)
        groups[g][0] += dur
        groups[g][1] += 1
        kernels[(e["name"][:90], op)][0] += dur
        kernels[(e["name"][:90], op)][1] += 1
        busy += dur
    span = max(float(e["ts"]) + float(e.get("dur", 0)) for e in gpu) - min(float(e["ts"]) for e in gpu)
    s = a.steps
    print(f"#### {a.title}" if a.title else "")
    print()
    print(f"GPU span {span / 1e3 / s:.1f} ms per step, kernels busy {busy / 1e3 / s:.1f} ms "
          f"({100 * busy / span:.0f}%), {len(gpu) // s} kernels per step")
    print()
    print("| group | GPU ms / step | share | launches / step |")
    print("| --- | --- | --- | --- |")
    for g, (d, n) in sorted(groups.items(), key=lambda kv: -kv[1][0]):
        if d / busy < 0.002:
            continue
        print(f"| {g} | {d / 1e3 / s:.2f} | {100 * d / busy:.1f}% | {n // s} |")
    print()
    # Host side: runtime calls that wait (syncs, pageable copies) and the launch count.
    runtime = collections.defaultdict(lambda: [0.0, 0])
    for e in events:
        if e.get("cat") == "cuda_runtime" and e.get("ph") == "X":
            runtime[e["name"]][0] += float(e.get("dur", 0))
            runtime[e["name"]][1] += 1
    if runtime:
        print("| CUDA runtime call | host ms / step | calls / step |")
        print("| --- | --- | --- |")
        for name, (d, n) in sorted(runtime.items(), key=lambda kv: -kv[1][0])[:8]:
            print(f"| {name} | {d / 1e3 / s:.2f} | {n // s} |")
        print()
    print(f"Top {a.top} kernels:")
    print()
    print("| kernel | op | GPU ms / step | launches / step |")
    print("| --- | --- | --- | --- |")
    for (k, op), (d, n) in sorted(kernels.items(), key=lambda kv: -kv[1][0])[: a.top]:
        print(f"| `{k}` | {op or ''} | {d / 1e3 / s:.2f} | {n // s} |")


if __name__ == "__main__":
    main()
