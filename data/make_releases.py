#!/usr/bin/env python3
"""Release simulator: a sequence of base-model releases made from the demo base by continued
training (every weight trains: adapters.policy full) on a corpus whose mix shifts from release to
release, as a model provider's continued pretraining would. Small releases continue briefly at a
low learning rate on about the same mix; large ones change the mix (new or reweighted suites) and
train longer at a higher rate. Release 1 is large: it brings the general Mood Journal task
(data/make_mood_journal.py --suite base) into the base, so every later release knows it.

Each release N trains from release N-1 (release 1 from BASE) and is written to
OUT/release-NN/model (a Hugging Face folder with the tokenizer); OUT/releases.jsonl gets one line
per release: its kind, steps, learning rate, data mix, seed, seconds and model folder. The corpus
of a release is generated with seeds derived from --seed and the release number, so the same
command makes the same releases. A release whose model exists is kept (delete OUT/release-NN to
make it and every later one again).

    python3 data/make_releases.py --base data/cache/demo/base-run/model --out data/cache/releases
    python3 data/make_releases.py --base ... --out ... --steps-scale 0.2    # a quicker, shorter sequence
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (kind, steps, lr, mix): mix = conversations per suite in the release's corpus. "agent" is the demo
# base's own corpus (make_agent_data.py --suite base), "mood" the general Mood Journal task,
# "stories" the children's-story tool calls (a domain the base has not seen).
RELEASES = [
    ("large", 150, 2e-3, {"agent": 600, "mood": 900}),
    ("small", 15, 3e-4, {"agent": 300, "mood": 300}),
    ("small", 15, 3e-4, {"agent": 300, "mood": 300}),
    ("small", 20, 4e-4, {"agent": 350, "mood": 250}),
    ("large", 120, 2e-3, {"agent": 300, "mood": 300, "stories": 900}),
    ("small", 15, 3e-4, {"agent": 300, "mood": 300, "stories": 300}),
    ("small", 15, 3e-4, {"agent": 300, "mood": 300, "stories": 300}),
    ("small", 20, 3e-4, {"agent": 250, "mood": 350, "stories": 300}),
    ("large", 160, 2.5e-3, {"agent": 900, "mood": 200, "stories": 200}),
    ("small", 15, 3e-4, {"agent": 400, "mood": 300, "stories": 200}),
    ("small", 15, 3e-4, {"agent": 400, "mood": 300, "stories": 200}),
    ("small", 20, 4e-4, {"agent": 400, "mood": 350, "stories": 150}),
]


def suite_lines(suite, n, seed, tmp):
    """n conversations of one suite, generated with the suite's own script."""
    if suite == "mood":
        cmd = [sys.executable, os.path.join(HERE, "make_mood_journal.py"), "--suite", "base", "--n-train", str(n),
               "--n-eval", "1", "--seed", str(seed), "--out", tmp]
        path = os.path.join(tmp, "mood_base_train.jsonl")
    else:
        name = "base" if suite == "agent" else suite
        cmd = [sys.executable, os.path.join(HERE, "make_agent_data.py"), "--suite", name, "--n-train", str(n),
               "--n-eval", "1", "--seed", str(seed), "--out", tmp]
        path = os.path.join(tmp, f"{name}_train.jsonl")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(path) as f:
        return f.read().splitlines()


def write_corpus(path, mix, seed, tmp):
    lines = []
    for i, (suite, n) in enumerate(sorted(mix.items())):
        lines += suite_lines(suite, n, seed * 100 + i, tmp)
    random.Random(seed).shuffle(lines)
    with open(path + ".tmp", "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(path + ".tmp", path)


RECIPE = """# Release {n} ({kind}): continued training of {parent}, written by data/make_releases.py.
model:
  path: {parent}
quant:
  backbone: none
adapters:
  policy: full
data:
  train: {train}
  max_seq_len: 384
train:
  max_steps: {steps}
  batch_size: 8
  lr: {lr}
  warmup_steps: {warmup}
  min_lr_ratio: 0.1
  weight_decay: 0.01
  eval_every: 0
  save_every: 0
  seed: {seed}
output:
  dir: {run}
  export_peft: false
  keep_checkpoints: 1
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the demo base model folder (release 0)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--edgetune", default=os.path.join(HERE, "..", "build", "edgetune"))
    ap.add_argument("--releases", type=int, default=len(RELEASES), help=f"how many (at most {len(RELEASES)})")
    ap.add_argument("--steps-scale", type=float, default=1.0, help="multiply every release's steps (>= 1 step each)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.base, "config.json")):
        sys.exit(f"make_releases: {args.base} is not a model folder (make the demo base with scripts/demo.sh)")
    os.makedirs(args.out, exist_ok=True)
    log_path = os.path.join(args.out, "releases.jsonl")
    done = {}
    if os.path.exists(log_path):
        with open(log_path) as f:
            for line in f:
                r = json.loads(line)
                done[r["release"]] = r
    parent = os.path.abspath(args.base)
    rows = []
    remade = False  # once a release is made again, every later one is too (it descends from it)
    for n, (kind, steps, lr, mix) in enumerate(RELEASES[:args.releases], start=1):
        rel = os.path.join(os.path.abspath(args.out), f"release-{n:02d}")
        model = os.path.join(rel, "run", "model")
        steps = max(1, round(steps * args.steps_scale))
        seed = args.seed * 1000 + n
        if not remade and os.path.isfile(os.path.join(model, "model.safetensors")) and n in done:
            print(f"release {n}: kept {model}", file=sys.stderr)
            rows.append(done[n])
            parent = model
            continue
        remade = True
        os.makedirs(rel, exist_ok=True)
        tmp = os.path.join(rel, "tmp")
        os.makedirs(tmp, exist_ok=True)
        train = os.path.join(rel, "corpus.jsonl")
        write_corpus(train, mix, seed, tmp)
        recipe = os.path.join(rel, "recipe.yaml")
        with open(recipe, "w") as f:
            f.write(RECIPE.format(n=n, kind=kind, parent=parent, train=train, steps=steps, lr=lr,
                                  warmup=max(1, steps // 10), seed=seed, run=os.path.join(rel, "run")))
        print(f"release {n} ({kind}): {steps} steps at lr {lr} on {sum(mix.values())} conversations {mix}",
              file=sys.stderr)
        t0 = time.time()
        subprocess.run([args.edgetune, "--log-level", "warn", "train", recipe], check=True, stdout=subprocess.DEVNULL)
        rows.append({"release": n, "kind": kind, "steps": steps, "lr": lr, "mix": mix, "seed": seed,
                     "parent": parent, "model": model, "seconds": round(time.time() - t0, 1)})
        with open(log_path + ".tmp", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        os.replace(log_path + ".tmp", log_path)
        parent = model
    print(f"{len(rows)} releases in {args.out} (see {log_path})", file=sys.stderr)


if __name__ == "__main__":
    main()
