#!/usr/bin/env python3
"""Patches trained by edgetune, exported for PEFT, give PEFT's logits.

For each model (tests/golden/llama, tests/golden/qwen2, <shared>/models/stories260K) this script
  1. copies the model folder to a temp dir (the golden models get a small byte-level tokenizer
     over their 128 ids, so edgetune can train them on text) and writes a small JSONL dataset;
  2. trains patches with `edgetune train` (fp32, quant.backbone none, a high learning rate so B is
     clearly non-zero):
       tokens    (tied models) every projection and trainable token rows (trainable_token_indices)
       all       every projection, rank 4, alpha 8
       rslora    every projection, rank 8, alpha 4, use_rslora
       mixed     a hand-written plan (adapters.policy gradcut + adapters.plan): dedicated adapters
                 of two ranks and alphas, shared adapters on q_proj and up_proj, and matrices
                 without an adapter, so rank_pattern / alpha_pattern and the shared export are used;
  3. exports each patch with `edgetune export --format peft` and writes edgetune's logits for fixed
     token ids with `dump_logits` (with and without the patch);
  4. loads the folder with transformers (AutoModelForCausalLM, fp32, eager attention), applies the
     adapter with PeftModel.from_pretrained, and compares logits:
       max |logits_peft - logits_edgetune| < 1e-4 (and the base logits agree too), and the adapter
       must move the logits (B != 0), and PEFT must have built exactly the planned modules and ranks.
It prints a table and exits non-zero if any check fails.

    python3 tests/peft/check_peft.py --build build-cuda --shared shared

--edgetune-only runs steps 1-3 (no torch needed), to check the edgetune side anywhere.
Exit code 77 means torch / transformers / peft are not installed (skipped).
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TOLERANCE = 1e-4


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout


# --- the edgetune side -------------------------------------------------------------------------

def byte_level_char(b):
    """GPT-2's bytes_to_unicode for one byte."""
    keep = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    if b in keep:
        return chr(b)
    return chr(256 + sorted(set(range(256)) - set(keep)).index(b))


def write_small_tokenizer(folder):
    """A byte-level BPE tokenizer over ids 0..98 of a 128-id model: <pad>, <s>, </s>, space,
    newline and the 94 printable ASCII characters, one token each."""
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, byte_level_char(32): 3, byte_level_char(10): 4}
    for i, b in enumerate(range(33, 127)):
        vocab[byte_level_char(b)] = 5 + i
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for c, i in (("<pad>", 0), ("<s>", 1), ("</s>", 2))]
    tok = {
        "version": "1.0", "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "byte_fallback": False, "vocab": vocab,
                  "merges": []},
    }
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(tok, f)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "add_bos_token": True}, f)


def write_arithmetic_data(path, n=64, seed=0):
    """Short sums in plain ASCII (the small tokenizer knows nothing else; the golden models have 64
    positions)."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for _ in range(n):
            a, b = rng.randint(0, 50), rng.randint(0, 50)
            conv = {"messages": [{"role": "user", "content": f"{a}+{b}?"},
                                 {"role": "assistant", "content": f"{a + b}"}]}
            f.write(json.dumps(conv) + "\n")


def recipe_text(model, data, out, extra, max_seq_len):
    lines = [
        "model:", f"  path: {model}", "  device: cpu", "  dtype: float32",
        "quant:", "  backbone: none",
        "adapters:"] + [f"  {k}: {v}" for k, v in extra.items()] + [
        "data:", f"  train: {data}", f"  max_seq_len: {max_seq_len}",
        "train:", "  max_steps: 12", "  batch_size: 4", "  lr: 5.0e-3", "  warmup_steps: 0", "  eval_every: 0",
        "  seed: 3",
        "output:", f"  dir: {out}", "  export_peft: false",
    ]
    return "\n".join(lines) + "\n"


def mixed_plan(plan_all_path, out_path):
    """From the plan.json of an `all` run: dedicated k_proj (rank 2, alpha 4) and down_proj (rank 6,
    alpha 3), v_proj dedicated above layer 0 (rank 5, alpha 10), shared q_proj (rank 3, alpha 6) and
    up_proj (rank 4, alpha 2), o_proj and gate_proj without an adapter."""
    with open(plan_all_path) as f:
        plan = json.load(f)
    plan["policy"] = "gradcut"
    shared = {"q_proj": (3, 6.0), "up_proj": (4, 2.0)}
    dedicated = {"k_proj": (2, 4.0), "down_proj": (6, 3.0), "v_proj": (5, 10.0)}
    specs = {}
    for m in plan["matrices"]:
        t = m["type"]
        if t in shared:
            m["assignment"], (m["rank"], m["alpha"]) = "shared", shared[t]
            specs.setdefault(t, {"type": t, "rank": shared[t][0], "alpha": shared[t][1],
                                 "in_features": m["in_features"], "out_features": m["out_features"]})
        elif t in dedicated and not (t == "v_proj" and m["layer"] == 0):
            m["assignment"], (m["rank"], m["alpha"]) = "dedicated", dedicated[t]
        else:
            m["assignment"], m["rank"], m["alpha"] = "none", 0, 0
    plan["shared"] = list(specs.values())
    for k in ("cut_layer", "trainable_parameters", "counts", "totals"):
        plan.pop(k, None)
    with open(out_path, "w") as f:
        json.dump(plan, f, indent=2)
    return plan


def sample_ids(vocab_low, vocab_high, rows=2, length=24, seed=1):
    rng = random.Random(seed)
    return [[1] + [rng.randrange(vocab_low, vocab_high) for _ in range(length - 1)] for _ in range(rows)]


def config_is_tied(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    return cfg.get("tie_word_embeddings", True)


def edgetune_side(build, name, src, work, shared_dir):
    """Trains the patches of one model; returns the runs to compare."""
    edgetune = os.path.join(build, "edgetune")
    dump = os.path.join(build, "dump_logits")
    folder = os.path.join(work, name, "model")
    shutil.copytree(src, folder)
    data = os.path.join(work, name, "train.jsonl")
    with open(os.path.join(folder, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    if not os.path.exists(os.path.join(folder, "tokenizer.json")) and not os.path.exists(
            os.path.join(folder, "tokenizer.model")):
        write_small_tokenizer(folder)
        write_arithmetic_data(data)
        ids = sample_ids(3, 99)
        max_seq_len = 64
    else:
        with open(os.path.join(REPO, "data/stories-tools/train.jsonl")) as f:
            lines = f.readlines()[:64]
        with open(data, "w") as f:
            f.writelines(lines)
        ids = sample_ids(3, vocab)
        max_seq_len = 256
    ids_arg = ";".join(",".join(str(i) for i in row) for row in ids)
    base_logits = os.path.join(work, name, "base_logits.safetensors")
    run([dump, "--model", folder, "--ids", ids_arg, "--out", base_logits])

    runs = []
    variants = [("all", {"policy": "all", "rank": 4, "alpha": 8}),
                ("rslora", {"policy": "all", "rank": 8, "alpha": 4, "rslora": "true"}),
                ("mixed", None)]
    if config_is_tied(folder):
        # Trainable token rows (PEFT's trainable_token_indices): the digits and </s> of the small
        # tokenizer, or the story model's rows it never learned.
        tokens = "[20, 21, 2]" if max_seq_len == 64 else "[auto]"
        variants.append(("tokens", {"policy": "all", "rank": 4, "alpha": 8, "trainable_tokens": tokens}))
    for variant, extra in variants:
        out = os.path.join(work, name, variant)
        if extra is None:
            plan_path = os.path.join(work, name, "mixed_plan.json")
            mixed_plan(os.path.join(work, name, "all", "plan.json"), plan_path)
            extra = {"policy": "gradcut", "plan": plan_path}
        recipe = os.path.join(work, name, f"{variant}.yaml")
        with open(recipe, "w") as f:
            f.write(recipe_text(folder, data, out, extra, max_seq_len))
        summary = json.loads(run([edgetune, "train", recipe]).strip().splitlines()[-1])
        patch = summary["patch"]
        peft_dir = os.path.join(out, "peft-export")
        run([edgetune, "export", "--model", folder, "--patch", patch, "--format", "peft", "-o", peft_dir])
        logits = os.path.join(out, "logits.safetensors")
        run([dump, "--model", folder, "--patch", patch, "--ids", ids_arg, "--out", logits])
        with open(os.path.join(out, "plan.json")) as f:
            plan = json.load(f)
        runs.append({"model": name, "variant": variant, "folder": folder, "peft": peft_dir, "ids": ids,
                     "logits": logits, "base_logits": base_logits, "plan": plan,
                     "train_loss": summary.get("train_loss")})
    return runs


# --- the PEFT side -----------------------------------------------------------------------------

def peft_side(r):
    import torch
    import transformers
    from peft import PeftModel
    from safetensors.torch import load_file

    kwargs = {"attn_implementation": "eager"}
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["folder"], dtype=torch.float32, **kwargs)
    except TypeError:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["folder"], torch_dtype=torch.float32, **kwargs)
    model.eval()
    ids = torch.tensor(r["ids"], dtype=torch.long)
    ours = load_file(r["logits"])
    ours_base = load_file(r["base_logits"])
    assert torch.equal(ours["input_ids"], ids)
    with torch.no_grad():
        base = model(input_ids=ids).logits.float()
        peft_model = PeftModel.from_pretrained(model, r["peft"])
        peft_model.eval()
        tuned = peft_model(input_ids=ids).logits.float()
    problems = []
    # PEFT built exactly the planned modules with the planned ranks.
    planned = {m["module"]: m["rank"] for m in r["plan"]["matrices"] if m["assignment"] != "none"}
    built = {}
    for name, mod in peft_model.named_modules():
        if hasattr(mod, "lora_A") and "default" in getattr(mod, "lora_A", {}):
            key = name.split("base_model.model.", 1)[-1]
            built[key] = mod.lora_A["default"].weight.shape[0]
    if built != planned:
        missing = sorted(set(planned) - set(built))[:3]
        extra = sorted(set(built) - set(planned))[:3]
        wrong = sorted(k for k in planned if k in built and built[k] != planned[k])[:3]
        problems.append(f"PEFT modules differ: missing {missing}, extra {extra}, wrong rank {wrong}")
    d_tuned = (tuned - ours["logits"]).abs().max().item()
    d_base = (base - ours_base["logits"]).abs().max().item()
    moved = (tuned - base).abs().max().item()
    if not d_tuned < TOLERANCE:
        problems.append(f"max |peft - edgetune| = {d_tuned:.3g} >= {TOLERANCE}")
    if not d_base < TOLERANCE:
        problems.append(f"base logits differ by {d_base:.3g}")
    if not moved > 1e-3:
        problems.append(f"the adapter hardly changes the logits ({moved:.3g}): B is not trained")
    return {"modules": len(built), "d_tuned": d_tuned, "d_base": d_base, "moved": moved, "problems": problems}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(REPO, "build"), help="build folder with edgetune and dump_logits")
    ap.add_argument("--shared", default=os.path.join(REPO, "..", "shared"), help="the shared folder (models/)")
    ap.add_argument("--edgetune-only", action="store_true", help="train, export and dump only (no torch)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    for exe in ("edgetune", "dump_logits"):
        if not os.access(os.path.join(build, exe), os.X_OK):
            print(f"check_peft: {os.path.join(build, exe)} not built (ninja -C {build} edgetune dump_logits)")
            return 1
    if not args.edgetune_only:
        try:
            import peft  # noqa: F401
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError as e:
            print(f"check_peft: skipped: {e} (needs torch, transformers and peft)")
            return 77

    models = [("llama", os.path.join(REPO, "tests/golden/llama")), ("qwen2", os.path.join(REPO, "tests/golden/qwen2"))]
    stories = os.path.join(os.path.abspath(args.shared), "models/stories260K")
    if os.path.isdir(stories):
        models.append(("stories260K", stories))
    else:
        print(f"check_peft: {stories} is absent; checking the golden models only")

    work = tempfile.mkdtemp(prefix="edgetune-peft-")
    failed = False
    try:
        runs = []
        for name, src in models:
            runs += edgetune_side(build, name, src, work, args.shared)
        header = f"{'model':<12} {'patch':<7} {'train loss':>10} {'modules':>7} {'|peft-ours|':>12} {'|base diff|':>12} {'|peft-base|':>12}  result"
        print(header)
        print("-" * len(header))
        for r in runs:
            if args.edgetune_only:
                n = sum(m["assignment"] != "none" for m in r["plan"]["matrices"])
                print(f"{r['model']:<12} {r['variant']:<7} {r['train_loss']:>10.4f} {n:>7} {'-':>12} {'-':>12} {'-':>12}  edgetune side ok")
                continue
            c = peft_side(r)
            ok = not c["problems"]
            failed = failed or not ok
            print(f"{r['model']:<12} {r['variant']:<7} {r['train_loss']:>10.4f} {c['modules']:>7} {c['d_tuned']:>12.3g} "
                  f"{c['d_base']:>12.3g} {c['moved']:>12.3g}  {'ok' if ok else 'FAIL: ' + '; '.join(c['problems'])}")
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        print(f"check_peft: FAILED (tolerance {TOLERANCE})")
        return 1
    print("check_peft: all patches match" + (" (edgetune side only)" if args.edgetune_only else f" within {TOLERANCE}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
