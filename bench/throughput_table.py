#!/usr/bin/env python3
"""The table of bench/train_throughput.sh from its throughput.jsonl.

  throughput_table.py throughput.jsonl [--splice bench/RESULTS.md --command "..."]

With --splice, the table (and the command that made it) also replaces what stands between the
markers <!-- train_throughput:begin --> and <!-- train_throughput:end --> in that file.

Per shape, data and checkpointing: PEFT tokens/s, edgetune bf16 LoRA tokens/s with its ratio to
PEFT, edgetune NF4 QLoRA tokens/s with its ratio to our bf16, the peak allocator memory of all
three, and our bf16 run's achieved model TFLOP/s with its fraction of the bf16 matmul peak measured
in the same run. Model FLOPs per step count what a LoRA step must compute without recomputation:
forward 2 N_lin per token + 2 V d per target (the head runs only where the loss reads) + causal
attention 4 h d_h per query-key pair; backward twice the attention and the same linear and head
products again for the input gradient (the frozen weights get none); LoRA's own products
(6 r (in + out) per token and matrix). Recomputation under checkpointing is not counted, so the
figure is comparable between the two sides and between checkpointing on and off.
"""
import json
import sys


def model_flops(rec):
    with open(rec["model"] + "/config.json") as f:
        c = json.load(f)
    d, L, V = c["hidden_size"], c["num_hidden_layers"], c["vocab_size"]
    h, kv = c["num_attention_heads"], c.get("num_key_value_heads", c["num_attention_heads"])
    hd = c.get("head_dim") or d // h
    ffn = c["intermediate_size"]
    mats = [(d, h * hd), (d, kv * hd), (d, kv * hd), (h * hd, d), (d, ffn), (d, ffn), (ffn, d)]
    n_lin = L * sum(i * o for i, o in mats)
    r = rec.get("rank", 16)
    lora = L * sum(r * (i + o) for i, o in mats)
    tokens, targets = rec["tokens"], rec["targets"]
    pairs = rec.get("attn_pairs", 0)
    fwd = 2 * n_lin * tokens + 2 * V * d * targets + 4 * h * hd * pairs * L
    bwd = 2 * n_lin * tokens + 2 * V * d * targets + 8 * h * hd * pairs * L
    return fwd + bwd + 6 * lora * tokens


def table(path):
    out = []
    print_ = lambda *a: out.append(" ".join(str(x) for x in a))
    _render(path, print_)
    return "\n".join(out) + "\n"


def main():
    import argparse
    p = argparse.ArgumentParser()
    p.add_argument("jsonl")
    p.add_argument("--splice")
    p.add_argument("--command", default="")
    a = p.parse_args()
    text = table(a.jsonl)
    sys.stdout.write(text)
    if a.splice:
        begin, end = "<!-- train_throughput:begin -->", "<!-- train_throughput:end -->"
        doc = open(a.splice).read()
        if begin not in doc or end not in doc:
            sys.exit(f"throughput_table: {a.splice} has no {begin} ... {end} markers")
        block = f"{begin}\n\nMade by `{a.command}`:\n\n{text}\n{end}"
        head, rest = doc.split(begin, 1)
        open(a.splice, "w").write(head + block + rest.split(end, 1)[1])


def _render(path, print):
    recs = [json.loads(l) for l in open(path) if l.strip()]
    peak = next((r["matmul_bf16_tflops"] for r in recs if "matmul_bf16_tflops" in r), None)
    runs = [r for r in recs if "side" in r]
    ours = {(r["shape"], r["data"], r["grad_checkpoint"], r["mode"]): r for r in runs if r["side"] == "edgetune"}
    peft = {(r["shape"], r["data"], r["grad_checkpoint"]): r for r in runs if r["side"] == "peft"}
    keys = sorted({k[:3] for k in ours} | set(peft), key=lambda k: (k[0], k[1] != "random", k[2]))
    names = {"llama": "Llama-3.2-1B", "qwen": "Qwen2.5-0.5B"}
    print(f"bf16 matmul peak measured in this run: {peak:.0f} TFLOP/s" if peak else "no matmul peak measured")
    print()
    print("| shape | rows | grad ckpt | PEFT tok/s | edgetune bf16 tok/s (x PEFT) | edgetune NF4 tok/s (x our bf16) "
          "| peak GiB PEFT / bf16 / NF4 | bf16 model TFLOP/s (of peak) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for k in keys:
        shape, data, ckpt = k
        p, b, q = peft.get(k), ours.get(k + ("bf16",)), ours.get(k + ("nf4",))
        rows = "8 x 2048 random" if data == "random" else "32 x 512 packed"
        cell_p = f"{p['tokens_per_s']:,.0f}" if p else "-"
        cell_b = "-"
        if b:
            cell_b = f"{b['tokens_per_s']:,.0f}"
            if p:
                cell_b += f" ({b['tokens_per_s'] / p['tokens_per_s']:.2f}x)"
        cell_q = "-"
        if q:
            cell_q = f"{q['tokens_per_s']:,.0f}"
            if b:
                cell_q += f" ({q['tokens_per_s'] / b['tokens_per_s']:.2f}x)"
        gib = " / ".join(f"{r['peak_mb'] / 1024:.1f}" if r else "-" for r in (p, b, q))
        flops = "-"
        if b:
            tf = model_flops(b) / b["seconds"] / 1e12
            flops = f"{tf:.0f}" + (f" ({100 * tf / peak:.0f}%)" if peak else "")
        print(f"| {names.get(shape, shape)} | {rows} | {ckpt and 'on' or 'off'} | {cell_p} | {cell_b} | {cell_q} | {gib} | {flops} |")


if __name__ == "__main__":
    main()
