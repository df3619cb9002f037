#!/usr/bin/env python3
"""The table of bench/cpu_throughput.sh from its runs.jsonl.

  cpu_throughput_table.py runs.jsonl [--peak GFLOPS] [--splice RESULTS.md --command CMD]

Per shape and backbone: tokens/s of the fast and the reference kernel path (each side's best
run over rounds and OpenMP wait policies, named in the cell), the ratio, and each path's model GFLOP/s (throughput_table.model_flops: what a LoRA step
must compute, no recomputation, non-padding tokens only) with the fast path's fraction of the
cores' float32 peak (the run's BM_PeakFp32Fma record, or --peak). cpu share = process CPU seconds
/ (threads x wall seconds) of that run: below 1 the run waited for cores that other processes held.
--splice replaces the text between the cpu_throughput markers of that file with the table.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput_table import model_flops  # noqa: E402


def render(recs, peak):
    out = []
    meta = {k: v for r in recs if "shape" not in r for k, v in r.items()}
    peak = peak or meta.get("peak_gflops", 0.0)
    runs = [r for r in recs if "shape" in r]
    best = {}
    for r in runs:
        k = (r["shape"], r["quant"], r["kernels"])
        if k not in best or r["tokens_per_s"] > best[k]["tokens_per_s"]:
            best[k] = r
    threads = sorted({r.get("threads", 1) for r in runs})
    line = f"threads: {', '.join(map(str, threads))}"
    if peak:
        line += f"; float32 FMA peak measured in this run: {peak:.0f} GFLOP/s"
    if "load_before" in meta:
        line += f"; load average before / after: {meta['load_before']:.2f} / {meta.get('load_after', float('nan')):.2f}"
    out.append(line)
    out.append("")
    out.append("| shape | backbone | reference tok/s (cpu share, wait policy) | fast tok/s (cpu share, wait policy) | fast / reference | fast GFLOP/s"
               + (" (of peak)" if peak else "") + " | reference GFLOP/s |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for shape, quant in sorted({k[:2] for k in best}, key=lambda k: (k[0] != "stories260K", k[1] != "nf4")):
        f, r = best.get((shape, quant, "fast")), best.get((shape, quant, "reference"))
        if not f or not r:
            continue
        share = lambda x: x.get("cpu_seconds", 0) / max(1e-9, x.get("threads", 1) * x["seconds"])
        gf = model_flops(f) / f["seconds"] / 1e9
        gr = model_flops(r) / r["seconds"] / 1e9
        of = f" ({gf / peak:.0%})" if peak else ""
        name = {"nf4": "NF4 QLoRA", "none": "float32 LoRA"}[quant]
        pol = lambda x: f", {x['omp_wait_policy']}" if "omp_wait_policy" in x else ""
        out.append(f"| {shape} | {name} | {r['tokens_per_s']:,.0f} ({share(r):.2f}{pol(r)}) | {f['tokens_per_s']:,.0f} "
                   f"({share(f):.2f}{pol(f)}) | {f['tokens_per_s'] / r['tokens_per_s']:.2f}x | {gf:.1f}{of} | {gr:.1f} |")
    return "\n".join(out) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--peak", type=float, default=0.0)
    p.add_argument("--splice")
    p.add_argument("--command", default="")
    a = p.parse_args()
    text = render([json.loads(l) for l in open(a.jsonl) if l.strip()], a.peak)
    sys.stdout.write(text)
    if a.splice:
        begin, end = "<!-- cpu_throughput:begin -->", "<!-- cpu_throughput:end -->"
        doc = open(a.splice).read()
        if begin not in doc or end not in doc:
            sys.exit(f"cpu_throughput_table: {a.splice} has no {begin} ... {end} markers")
        block = f"{begin}\n\nMade by `{a.command}`:\n\n{text}\n{end}"
        head, rest = doc.split(begin, 1)
        open(a.splice, "w").write(head + block + rest.split(end, 1)[1])


if __name__ == "__main__":
    main()
