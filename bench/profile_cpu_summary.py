#!/usr/bin/env python3
"""Per-op CPU time of a training step from the legacy profiler's Chrome trace (CPU runs of
train_throughput --profile on a libtorch without Kineto).

  profile_cpu_summary.py TRACE.json [--steps 2] [--top 25]

Every event is an operator or autograd node on the main thread with its wall time; an op's self
time is its time minus that of the events nested in it, so the self times add up to the time
inside recorded ops. Rows: self ms per step, calls per step, share of the recorded time.
"""
import argparse
import collections
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("trace")
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--top", type=int, default=25)
    a = p.parse_args()
    data = json.load(open(a.trace))
    events = data["traceEvents"] if isinstance(data, dict) else data
    by_tid = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X" and "dur" in e:
            by_tid[e.get("tid", 0)].append(e)
    self_us, calls = collections.Counter(), collections.Counter()
    top_total = 0.0
    for evs in by_tid.values():
        evs.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
        stack = []  # (end, name)
        for e in evs:
            ts, dur = float(e["ts"]), float(e["dur"])
            while stack and stack[-1][0] <= ts:
                stack.pop()
            if stack:
                self_us[stack[-1][1]] -= dur
            else:
                top_total += dur
            self_us[e["name"]] += dur
            calls[e["name"]] += 1
            stack.append((ts + dur, e["name"]))
    total = sum(self_us.values())
    print(f"recorded op time per step: {total / a.steps / 1e3:.1f} ms")
    print()
    print("| op | self ms / step | calls / step | share |")
    print("| --- | --- | --- | --- |")
    for name, us in self_us.most_common(a.top):
        print(f"| {name} | {us / a.steps / 1e3:.1f} | {calls[name] / a.steps:.0f} | {us / total:.1%} |")


if __name__ == "__main__":
    main()
