#!/usr/bin/env python3
"""The table of bench/cpu_throughput.sh from its runs.jsonl.

  cpu_throughput_table.py runs.jsonl [--peak GFLOPS]

Per shape and backbone: tokens/s of the fast and the reference kernel path (each side's best
round), the ratio, and the fast path's model GFLOP/s (throughput_table.model_flops: what a LoRA
step must compute, no recomputation) with its fraction of the cores' float32 peak when --peak is
given (bench_nf4_matmul's BM_PeakFp32Fma). cpu share = process CPU seconds / (threads x wall
seconds) of that run: below 1 the run waited for cores that other processes held.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput_table import model_flops  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--peak", type=float, default=0.0)
    a = p.parse_args()
    recs = [json.loads(l) for l in open(a.jsonl) if l.strip()]
    best = {}
    for r in recs:
        k = (r["shape"], r["quant"], r["kernels"])
        if k not in best or r["tokens_per_s"] > best[k]["tokens_per_s"]:
            best[k] = r
    print("| shape | backbone | reference tok/s (cpu share) | fast tok/s (cpu share) | fast / reference | fast GFLOP/s"
          + (" (of peak)" if a.peak else "") + " | reference GFLOP/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for shape, quant in sorted({k[:2] for k in best}, key=lambda k: (k[0] != "stories260K", k[1] != "nf4")):
        f, r = best.get((shape, quant, "fast")), best.get((shape, quant, "reference"))
        if not f or not r:
            continue
        share = lambda x: x.get("cpu_seconds", 0) / max(1e-9, x.get("threads", 1) * x["seconds"])
        gf = model_flops(f) / f["seconds"] / 1e9
        gr = model_flops(r) / r["seconds"] / 1e9
        peak = f" ({gf / a.peak:.0%})" if a.peak else ""
        name = {"nf4": "NF4 QLoRA", "none": "float32 LoRA"}[quant]
        print(f"| {shape} | {name} | {r['tokens_per_s']:,.0f} ({share(r):.2f}) | {f['tokens_per_s']:,.0f} ({share(f):.2f}) "
              f"| {f['tokens_per_s'] / r['tokens_per_s']:.2f}x | {gf:.1f}{peak} | {gr:.1f} |")


if __name__ == "__main__":
    main()
