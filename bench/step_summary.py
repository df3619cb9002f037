#!/usr/bin/env python3
"""One line per training run: median and 10th-percentile time per step (skipping the first 3
steps), the mean time per step over the whole run (every step, warm-up steps included, plus the
filling of the cut-layer cache; needs a metrics row per step, train.log_every 1), held-out loss at
the start, the end and every eval, trainable parameters and the cut layer, read from each run's
metrics.jsonl and plan.json, and the time spent filling the cut-layer cache and the whole
run's seconds from DIR.json (the `edgetune train` summary) where it exists. For comparing ad-hoc
variants side by side:

    bench/step_summary.py runs/all runs/gradcut runs/list-top-half
"""
import json
import os
import statistics
import sys


def mean_with_cache(steps, run):
    """(every step's seconds + cut-cache filling) / steps; None unless every step has a row."""
    if not steps or len(steps) != steps[-1]["step"]:
        return None
    return (sum(r["step_s"] for r in steps) + (run.get("cut_cache_seconds") or 0)) / len(steps)


def summary(d):
    rows = [json.loads(line) for line in open(os.path.join(d, "metrics.jsonl"))]
    steps = [r for r in rows if "step_s" in r]
    timed = [r["step_s"] for r in steps[3:]] or [r["step_s"] for r in steps]
    evals = [r for r in rows if "eval_loss" in r]
    plan = json.load(open(os.path.join(d, "plan.json")))
    run = {}
    if os.path.exists(d.rstrip("/") + ".json"):
        try:
            run = json.load(open(d.rstrip("/") + ".json"))
        except ValueError:
            pass
    return {
        "run": d,
        "steps": steps[-1]["step"] if steps else 0,
        "step_s_median": statistics.median(timed) if timed else None,
        "step_s_p10": sorted(timed)[len(timed) // 10] if timed else None,
        "step_s_mean_all": mean_with_cache(steps, run),
        "eval_loss_start": evals[0]["eval_loss"] if evals else None,
        "eval_loss_end": evals[-1]["eval_loss"] if evals else None,
        "eval_losses": {r["step"]: round(r["eval_loss"], 5) for r in evals},
        "cut_layer": plan.get("cut_layer"),
        "adapters": plan.get("counts"),
        "trainable_parameters": plan.get("trainable_parameters"),
        "cut_cache_seconds": run.get("cut_cache_seconds"),
        "run_seconds": run.get("seconds"),
    }


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for d in sys.argv[1:]:
        try:
            print(json.dumps(summary(d)))
        except (OSError, ValueError, KeyError) as e:
            print(json.dumps({"run": d, "error": str(e)}))


if __name__ == "__main__":
    main()
