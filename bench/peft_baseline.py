#!/usr/bin/env python3
"""The Hugging Face baseline of bench/train_throughput.sh: transformers + peft LoRA training steps.

Same model shape (the same config.json, random init), batch, sequence, rank, alpha, targets (all
seven projections), optimizer (AdamW, the fused torch implementation that the Trainer picks),
gradient clipping at 1.0 and bf16 compute as edgetune's train_throughput; SDPA attention.

  peft_baseline.py --model DIR [--grad-checkpoint] [--batch 8] [--seq 2048] [--rows ROWS.json]
                   [--rank 16] [--alpha 32] [--steps 10] [--warmup 3]
  peft_baseline.py --matmul-peak      # bf16 8192^3 matmul TFLOP/s on this GPU

Without --rows every row is --seq random tokens and labels = inputs. With --rows (written by
train_throughput --dump-rows) it trains on exactly those batches: the packed rows' position ids
(restarting at each conversation, so transformers masks attention between them) and labels only
on the target tokens. stdout: one JSON object.
"""
import argparse
import json
import time

import torch


def matmul_peak():
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    reps = 20
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    stop.record()
    torch.cuda.synchronize()
    secs = start.elapsed_time(stop) / 1e3 / reps
    return 2 * n**3 / secs / 1e12


def batches_from_rows(path, device):
    out = []
    with open(path) as f:
        for b in json.load(f):
            shape = (b["rows"], b["len"])
            ids = torch.tensor(b["ids"], dtype=torch.long).view(shape)
            pos = torch.tensor(b["positions"], dtype=torch.long).view(shape)
            seg = torch.tensor(b["segments"], dtype=torch.long).view(shape)
            tgt = torch.tensor(b["target"], dtype=torch.bool).view(shape)
            labels = torch.where(tgt, ids, torch.full_like(ids, -100))
            tokens = int((seg >= 0).sum())
            out.append(dict(input_ids=ids.to(device), position_ids=pos.to(device), labels=labels.to(device),
                            tokens=tokens))
    return out


def random_batches(n, batch, seq, vocab, device):
    g = torch.Generator().manual_seed(1)
    out = []
    for _ in range(n):
        ids = torch.randint(0, vocab, (batch, seq), generator=g)
        out.append(dict(input_ids=ids.to(device), labels=ids.to(device), tokens=batch * seq))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    p.add_argument("--grad-checkpoint", action="store_true")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--rows")
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--matmul-peak", action="store_true")
    a = p.parse_args()
    if a.matmul_peak:
        print(json.dumps({"matmul_bf16_tflops": matmul_peak()}))
        return

    import transformers
    import peft
    from transformers import AutoConfig, AutoModelForCausalLM
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(a.model)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16, attn_implementation="sdpa")
    model.config.use_cache = False
    model.to("cuda")
    lora = LoraConfig(r=a.rank, lora_alpha=a.alpha, lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    model = get_peft_model(model, lora)
    if a.grad_checkpoint:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, fused=True)

    n = a.warmup + a.steps
    if a.rows:
        batches = batches_from_rows(a.rows, "cuda")
        assert len(batches) >= n, f"{a.rows} has {len(batches)} batches, need {n}"
    else:
        batches = random_batches(n, a.batch, a.seq, config.vocab_size, "cuda")

    def step(b):
        kw = {k: v for k, v in b.items() if k != "tokens"}
        loss = model(**kw).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    losses = []
    for i in range(a.warmup):
        losses.append(float(step(batches[i])))
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    tokens = 0
    timed = []
    for i in range(a.warmup, n):
        timed.append(step(batches[i]).detach())
        tokens += batches[i]["tokens"]
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    losses += [float(x) for x in timed]
    print(json.dumps({"model": a.model, "grad_checkpoint": a.grad_checkpoint, "batch": a.batch, "seq": a.seq,
                      "rows": a.rows, "rank": a.rank, "steps": a.steps, "tokens": tokens, "seconds": secs,
                      "step_s": secs / a.steps, "tokens_per_s": tokens / secs,
                      "peak_mb": torch.cuda.max_memory_allocated() / 2**20, "losses": losses,
                      "transformers": transformers.__version__, "peft": peft.__version__,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
