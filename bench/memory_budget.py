#!/usr/bin/env python3
"""Peak memory of training: edgetune's estimate against the measured peak, and train.memory_budget.

For each model shape and setting this writes a recipe, asks `edgetune plan --memory --json` for the
estimate, trains a few steps with `edgetune train` and measures the peak: on the CPU the process's
peak resident set (wait4's ru_maxrss), on a GPU the CUDA caching allocator's peak (the trainer's
mem_mb in metrics.jsonl). Then runs with train.memory_budget set (the planner picks the micro-batch,
accumulation and checkpointing), and one with a budget nothing fits, which must be refused with the
smallest budget that fits (and that budget must then be accepted).

  memory_budget.py --edgetune build/edgetune --device cpu|cuda [--suite cpu|cuda|test] [--out DIR]
                   [--splice bench/RESULTS.md --command "..."] [--steps N]

Shapes: stories260K (the real model in ../shared/models), the Qwen2.5-0.5B and Llama-3.2-1B shapes
(random init from their config.json, the stories260K tokenizer). Data: generated conversations of
random words, each longer than the row, so every row holds exactly data.max_seq_len tokens. QLoRA:
NF4 backbone, LoRA r=16 alpha=32 on all seven projections, bf16 on the GPU, float32 on the CPU.

Every check prints PASS or FAIL; the exit status is 1 when one failed (the table is written anyway).
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time

QWEN = {"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
        "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
        "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": True,
        "vocab_size": 151936, "use_sliding_window": False, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "bfloat16"}
LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
         "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
         "num_key_value_heads": 8, "head_dim": 64, "hidden_act": "silu", "max_position_embeddings": 131072,
         "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
         "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                          "original_max_position_embeddings": 8192, "rope_type": "llama3"},
         "tie_word_embeddings": True, "vocab_size": 128256, "attention_bias": False, "mlp_bias": False,
         "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"}
# A small Llama for the fast test (tests/cli/memory_budget_cli_test.cpp uses the same idea).
SMALL = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 256,
         "intermediate_size": 704, "num_hidden_layers": 4, "num_attention_heads": 8,
         "num_key_value_heads": 4, "hidden_act": "silu", "max_position_embeddings": 4096,
         "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": True,
         "vocab_size": 8192, "bos_token_id": 1, "eos_token_id": 2}

# (shape, seq, micro-batch, accumulation, checkpointing) per suite: the estimate-vs-peak rows.
SUITES = {
    "cpu": [("stories260K", 256, 8, 1, False), ("stories260K", 256, 32, 1, False),
            ("stories260K", 256, 32, 1, True), ("stories260K", 512, 16, 1, True),
            ("qwen", 256, 1, 1, False), ("qwen", 256, 2, 1, True), ("qwen", 512, 1, 1, False),
            ("qwen", 512, 2, 1, True)],
    "cuda": [("stories260K", 512, 32, 1, False), ("stories260K", 512, 64, 1, True),
             ("stories260K", 512, 128, 1, False),
             ("qwen", 2048, 1, 1, False), ("qwen", 2048, 2, 1, False), ("qwen", 2048, 4, 1, True),
             ("llama", 2048, 1, 1, False), ("llama", 2048, 2, 1, False), ("llama", 2048, 4, 1, True)],
    "test": [("small", 128, 2, 1, False), ("small", 256, 4, 1, False), ("small", 256, 4, 1, True)],
}
# (shape, seq, effective micro-batch rows, budget MiB) run with train.memory_budget.
BUDGETS = {
    "cpu": [("qwen", 256, 4, 3072)],
    "cuda": [("llama", 2048, 8, 4096), ("qwen", 2048, 8, 2048)],
    "test": [("small", 256, 4, 400)],
}
# A budget that nothing fits: (shape, seq, rows, budget MiB).
IMPOSSIBLE = {"cpu": ("qwen", 256, 4, 512), "cuda": ("llama", 2048, 8, 512), "test": ("small", 256, 4, 64)}
TOLERANCE = 0.15

WORDS = ("the a little girl boy dog cat park ball tree went saw played happy sad big small red blue "
         "sun day friend mom dad home school toy car run jump sing read book food apple water "
         "garden flower bird fish sky rain snow hat shoe box cake").split()


def conversations(path, n, words, seed=0):
    """n conversations of random words: a short user turn, a long assistant turn (the targets)."""
    rnd = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            user = " ".join(rnd.choice(WORDS) for _ in range(12))
            reply = " ".join(rnd.choice(WORDS) for _ in range(words))
            f.write(json.dumps({"messages": [{"role": "user", "content": user},
                                             {"role": "assistant", "content": reply}]}) + "\n")


def model_dir(work, shape, shared):
    stories = os.path.join(shared, "models", "stories260K")
    if shape == "stories260K":
        return stories, "pretrained"
    d = os.path.join(work, "models", shape)
    os.makedirs(d, exist_ok=True)
    cfg = {"qwen": QWEN, "llama": LLAMA, "small": SMALL}[shape]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    for name in ("tokenizer.model", "tokenizer.json", "tokenizer_config.json"):
        src = os.path.join(stories, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(d, name))
    return d, "random"


def write_recipe(path, model, init, data, out, device, seq, batch, accum, ckpt, steps, budget=0, threads=0):
    lines = [
        "model:", f"  path: {model}", f"  device: {device}", f"  init: {init}",
        "quant:", "  backbone: nf4",
        "adapters:", "  policy: all", "  rank: 16", "  alpha: 32",
        "data:", f"  train: {data}", f"  max_seq_len: {seq}", "  pack: false", "  chat_template: plain",
        "train:", f"  max_steps: {steps}", f"  batch_size: {batch}", f"  grad_accum: {accum}",
        f"  grad_checkpoint: {'true' if ckpt else 'false'}", "  eval_every: 0", "  save_every: 0",
        "  warmup_steps: 0", "  lr: 1.0e-4", f"  memory_budget: {budget}", f"  threads: {threads}",
        "output:", f"  dir: {out}", "  export_peft: false", "  keep_checkpoints: 1",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(cmd, log, timeout):
    """Runs cmd, stderr into log; returns (exit code, seconds, stdout text)."""
    t0 = time.time()
    with open(log, "w") as lf:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=lf, text=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            lf.write(f"\nmemory_budget: timed out after {timeout} s\n")
    return p.returncode, time.time() - t0, out


def measure(cmd, log, timeout):
    """Runs cmd, stderr into log; returns (exit code, peak RSS MiB of that process (wait4), seconds)."""
    t0 = time.time()
    with open(log, "w") as lf:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=lf)
        deadline = t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.time() > deadline:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                lf.write(f"\nmemory_budget: timed out after {timeout} s\n")
                break
            time.sleep(0.2)
        p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_maxrss / 1024.0, time.time() - t0


def metrics(out_dir):
    rows = []
    path = os.path.join(out_dir, "metrics.jsonl")
    if os.path.exists(path):
        for line in open(path):
            d = json.loads(line)
            if "loss" in d and "tokens_per_s" in d:
                rows.append(d)
    return rows


def resolved(out_dir):
    """train.batch_size, grad_accum, grad_checkpoint, cut_cache of recipe.resolved.yaml."""
    got = {}
    path = os.path.join(out_dir, "recipe.resolved.yaml")
    if os.path.exists(path):
        section = ""
        for line in open(path):
            if not line.startswith(" "):
                section = line.strip().rstrip(":")
            elif section == "train":
                k, _, v = line.strip().partition(":")
                if k in ("batch_size", "grad_accum", "grad_checkpoint", "cut_cache"):
                    got[k] = v.strip()
    return got


class Suite:
    def __init__(self, a):
        self.a = a
        self.checks = []  # (ok, what)
        self.rows = []
        self.budget_rows = []
        self.notes = []
        os.makedirs(a.out, exist_ok=True)
        self.work = os.path.abspath(a.out)

    def check(self, ok, what):
        self.checks.append((ok, what))
        print(("PASS " if ok else "FAIL ") + what, flush=True)

    def out_of_time(self, tag):
        """True (and noted) when --deadline has passed: the run is skipped."""
        if self.a.deadline and time.time() > self.a.deadline:
            self.notes.append(f"{tag}: skipped, out of time (--deadline)")
            print(f"SKIP {tag}: out of time", flush=True)
            return True
        return False

    def data(self, seq):
        path = os.path.join(self.work, f"conversations-{seq}.jsonl")
        if not os.path.exists(path):
            conversations(path, 64, seq + 16)
        return path

    def estimate(self, recipe, tag):
        code, _, out = run([self.a.edgetune, "plan", "--memory", "--json", recipe],
                           os.path.join(self.work, f"{tag}.plan.log"), 600)
        if code != 0:
            return None
        with open(os.path.join(self.work, f"{tag}.plan.json"), "w") as f:
            f.write(out)
        try:
            return json.loads(out)
        except json.JSONDecodeError:
            return None

    def train(self, recipe, out_dir, tag):
        shutil.rmtree(out_dir, ignore_errors=True)
        log = os.path.join(self.work, f"{tag}.train.log")
        code, rss, secs = measure([self.a.edgetune, "train", recipe], log, self.a.timeout)
        m = metrics(out_dir)
        peak = rss if self.a.device == "cpu" else max((r.get("mem_mb", 0) for r in m), default=0)
        timed = m[1:] if len(m) > 1 else m
        tps = sum(r["tokens_per_s"] for r in timed) / len(timed) if timed else 0
        return code, peak, tps, secs, log

    def recipe(self, shape, seq, batch, accum, ckpt, budget, tag):
        model, init = model_dir(self.work, shape, self.a.shared)
        path = os.path.join(self.work, f"{tag}.yaml")
        out_dir = os.path.join(self.work, "runs", tag)
        write_recipe(path, model, init, self.data(seq), out_dir, self.a.device, seq, batch, accum, ckpt,
                     self.a.steps, budget, self.a.threads)
        return path, out_dir

    def estimate_rows(self):
        for shape, seq, batch, accum, ckpt in SUITES[self.a.suite]:
            tag = f"{shape}-{seq}-b{batch}x{accum}-{'ckpt' if ckpt else 'nockpt'}"
            if self.out_of_time(tag):
                continue
            recipe, out_dir = self.recipe(shape, seq, batch, accum, ckpt, 0, tag)
            est = self.estimate(recipe, tag)
            if est is None:
                self.check(False, f"{tag}: edgetune plan --memory failed (see {tag}.plan.log)")
                continue
            code, peak, tps, secs, log = self.train(recipe, out_dir, tag)
            total = est["at_recipe"]["total_mib"]
            if code != 0 or peak <= 0:
                self.check(False, f"{tag}: training failed (exit {code}, see {os.path.basename(log)})")
                self.rows.append((shape, seq, batch, accum, ckpt, total, None, None, tps, est["at_recipe"]))
                continue
            err = (total - peak) / peak
            self.rows.append((shape, seq, batch, accum, ckpt, total, peak, err, tps, est["at_recipe"]))
            self.check(abs(err) <= TOLERANCE,
                       f"{tag}: estimate {total:.0f} MiB, measured {peak:.0f} MiB ({100 * err:+.1f}%, {secs:.0f} s)")

    def budget_runs(self):
        for shape, seq, rows, budget in BUDGETS[self.a.suite]:
            tag = f"{shape}-{seq}-budget{budget}"
            if self.out_of_time(tag):
                continue
            recipe, out_dir = self.recipe(shape, seq, rows, 1, False, budget, tag)
            est = self.estimate(recipe, tag)
            choice = est.get("choice") if est else None
            if not choice:
                self.check(False, f"{tag}: the planner found no setting under {budget} MiB "
                                  f"({est.get('refusal') if est else 'plan --memory failed'})")
                continue
            code, peak, tps, secs, log = self.train(recipe, out_dir, tag)
            got = resolved(out_dir)
            chosen = (f"{got.get('batch_size', '?')} x {got.get('grad_accum', '?')}, "
                      f"checkpointing {'on' if got.get('grad_checkpoint') == 'true' else 'off'}")
            ok = code == 0 and 0 < peak <= budget
            self.budget_rows.append((shape, seq, rows, budget, chosen, choice["total_mib"], peak if code == 0 else None,
                                     tps, choice.get("reason", "")))
            self.check(ok, f"{tag}: chose {chosen}; estimate {choice['total_mib']:.0f} MiB, measured {peak:.0f} MiB "
                           f"under {budget} MiB, {tps:.0f} tokens/s (exit {code})")
            if code == 0:
                eff = int(got.get("batch_size", 0) or 0) * int(got.get("grad_accum", 0) or 0)
                self.check(eff == rows, f"{tag}: the effective batch stays {rows} rows (got {eff})")
                log_text = open(log).read()
                self.check("memory budget" in log_text, f"{tag}: the trainer logged its choice")

    def impossible(self):
        if self.a.suite not in IMPOSSIBLE:
            return
        shape, seq, rows, budget = IMPOSSIBLE[self.a.suite]
        tag = f"{shape}-{seq}-impossible{budget}"
        if self.out_of_time(tag):
            return
        recipe, out_dir = self.recipe(shape, seq, rows, 1, False, budget, tag)
        code, _, _, _, log = self.train(recipe, out_dir, tag)
        text = open(log).read()
        m = re.search(r"set train\.memory_budget to at least (\d+)", text)
        self.check(code != 0 and m is not None,
                   f"{tag}: refused (exit {code}){': ' + m.group(0) if m else ' without naming the smallest budget'}")
        if not m:
            return
        need = int(m.group(1))
        self.notes.append(f"train.memory_budget {budget} for the {shape} shape ({rows} x {seq}): refused, "
                          f"\"{text[text.find('train.memory_budget'):].splitlines()[0].strip()}\"")
        recipe2, _ = self.recipe(shape, seq, rows, 1, False, need, tag + "-need")
        est = self.estimate(recipe2, tag + "-need")
        self.check(bool(est and est.get("choice")), f"{tag}: the named {need} MiB is accepted by the planner")

    def table(self):
        dev = "peak RSS" if self.a.device == "cpu" else "allocator peak"
        out = [f"| shape | tokens/row | micro-batch x accum | checkpointing | estimate MiB | {dev} MiB | error | tokens/s |",
               "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
        for shape, seq, b, acc, ck, total, peak, err, tps, _ in self.rows:
            peak_s = f"{peak:.0f}" if peak else "failed"
            err_s = f"{100 * err:+.1f}%" if err is not None else "-"
            out.append(f"| {shape} | {seq} | {b} x {acc} | {'on' if ck else 'off'} | {total:.0f} | {peak_s} | {err_s} | {tps:.0f} |")
        if self.budget_rows:
            out += ["", f"| shape | rows x tokens per step | train.memory_budget MiB | chosen | estimate MiB | {dev} MiB | tokens/s |",
                    "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
            for shape, seq, rows, budget, chosen, est, peak, tps, _ in self.budget_rows:
                peak_s = f"{peak:.0f}" if peak else "failed"
                out.append(f"| {shape} | {rows} x {seq} | {budget} | {chosen} | {est:.0f} | {peak_s} | {tps:.0f} |")
        for n in self.notes:
            out += ["", n]
        passed = sum(ok for ok, _ in self.checks)
        out += ["", f"{passed} of {len(self.checks)} checks passed (estimates within {100 * TOLERANCE:.0f}% of the "
                    f"measured peak; runs under their budget; the refusal names a budget that fits)."]
        return "\n".join(out) + "\n"


def splice(path, marker, block, command, header):
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    doc = open(path).read()
    text = f"{begin}\n{header}\n\n```\n{command}\n```\n\n{block}{end}"
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        doc = head + text + rest.split(end, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n" + text + "\n"
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(doc)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--edgetune", required=True)
    p.add_argument("--device", choices=["cpu", "cuda"], required=True)
    p.add_argument("--suite", choices=list(SUITES), help="default: the device's")
    p.add_argument("--shared", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
    p.add_argument("--out", default="out/memory_budget")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--timeout", type=int, default=1800, help="seconds one training run may take")
    p.add_argument("--deadline", type=float, default=0,
                   help="seconds from now after which no further run starts (0: none)")
    p.add_argument("--only", default="", help="comma-separated shapes to run (default: all of the suite)")
    p.add_argument("--budget-only", action="store_true",
                   help="only the runs under a budget and the refusal (no estimate-vs-peak rows)")
    p.add_argument("--splice", help="RESULTS.md to put the table into")
    p.add_argument("--command", default="")
    a = p.parse_args()
    a.suite = a.suite or a.device
    a.edgetune = os.path.abspath(a.edgetune)
    a.shared = os.path.abspath(a.shared)
    if a.only:
        keep = set(a.only.split(","))
        SUITES[a.suite] = [r for r in SUITES[a.suite] if r[0] in keep]
        BUDGETS[a.suite] = [r for r in BUDGETS[a.suite] if r[0] in keep]
        if IMPOSSIBLE[a.suite][0] not in keep:
            del IMPOSSIBLE[a.suite]
    a.deadline = time.time() + a.deadline if a.deadline else 0
    s = Suite(a)
    # The budget runs and the refusal first: under --deadline they are the ones that must run.
    s.budget_runs()
    s.impossible()
    if not a.budget_only:
        s.estimate_rows()
    block = s.table()
    print(block)
    with open(os.path.join(s.work, "table.md"), "w") as f:
        f.write(block)
    if a.splice:
        where = "CPU, 2 cores" if a.device == "cpu" else "GPU"
        header = (f"Measured on {where}, {time.strftime('%Y-%m-%d')}: QLoRA (NF4, r=16 on all seven projections), "
                  f"{a.steps} steps per run, rows of random-word conversations.")
        splice(a.splice, f"memory_budget:{a.device}", block, a.command, header)
    sys.exit(0 if all(ok for ok, _ in s.checks) else 1)


if __name__ == "__main__":
    main()
