#!/usr/bin/env python3
"""Writes the transformers golden files that edgetune's model tests compare against.

For each family (Llama, Qwen2, Qwen3, Gemma 3 text) it builds a tiny randomly initialised model
with transformers, saves it as a Hugging Face folder (config.json + model.safetensors, float32) and
writes golden.safetensors beside it:
  input_ids  I64 [2, T]    two sequences
  logits     F32 [2, T, V] transformers' fp32 logits (eager attention)
  loss       F32 [1]       mean next-token cross-entropy over both sequences
Each folder stays well under 300 KB so it can live in git.

Run where transformers and torch are installed (the GPU machine has both):
    python3 tests/golden/make_golden.py --out tests/golden
The tests read tests/golden/<family>/; re-run this script after changing a config below.
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file

SEQ = 20


def configs():
    common = dict(vocab_size=128, hidden_size=32, intermediate_size=64, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-6,
                  bos_token_id=1, eos_token_id=2, pad_token_id=0)
    out = {}
    # Llama 3.x style: untied head, llama3 rope scaling, 3 layers.
    out["llama"] = transformers.LlamaConfig(
        **common, num_hidden_layers=3, tie_word_embeddings=False,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0,
                         "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8})
    # Qwen2: q/k/v biases, tied head.
    out["qwen2"] = transformers.Qwen2Config(
        **common, num_hidden_layers=2, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    # Qwen3: q/k RMSNorm, head_dim different from hidden/heads.
    out["qwen3"] = transformers.Qwen3Config(
        **common, num_hidden_layers=2, head_dim=16, tie_word_embeddings=True,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
    # Gemma 3 text: sliding + full layers, four norms per block, GeGLU-tanh, scaled embeddings.
    g = dict(common)
    g["num_key_value_heads"] = 1
    out["gemma3"] = transformers.Gemma3TextConfig(
        **g, num_hidden_layers=3, head_dim=16, sliding_window=6, query_pre_attn_scalar=16,
        layer_types=["sliding_attention", "full_attention", "sliding_attention"],
        tie_word_embeddings=True, hidden_activation="gelu_pytorch_tanh")
    return out


def model_class(name):
    return {"llama": transformers.LlamaForCausalLM, "qwen2": transformers.Qwen2ForCausalLM,
            "qwen3": transformers.Qwen3ForCausalLM, "gemma3": transformers.Gemma3ForCausalLM}[name]


def randomize(model, name):
    """Weights of a useful magnitude (default init gives near-zero logits, a weak test)."""
    g = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname:
                base = 0.0 if name == "gemma3" else 1.0  # Gemma stores (w - 1)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in pname:
                scale = 0.3 if name == "gemma3" else 1.0  # Gemma multiplies by sqrt(hidden)
                p.copy_(scale * torch.randn(p.shape, generator=g))
            elif p.dim() == 1:  # biases
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()
    torch.manual_seed(0)
    for name, cfg in configs().items():
        cfg._attn_implementation = "eager"
        model = model_class(name)(cfg).float().eval()
        randomize(model, name)
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        model.save_pretrained(folder, safe_serialization=True)
        g = torch.Generator().manual_seed(99)
        ids = torch.randint(3, cfg.vocab_size, (2, SEQ), generator=g)
        ids[:, 0] = cfg.bos_token_id
        with torch.no_grad():
            out = model(input_ids=ids, labels=ids)
        save_file({"input_ids": ids.contiguous(), "logits": out.logits.float().contiguous(),
                   "loss": out.loss.float().reshape(1).contiguous()},
                  os.path.join(folder, "golden.safetensors"),
                  metadata={"transformers": transformers.__version__, "torch": torch.__version__})
        for junk in ("generation_config.json",):
            p = os.path.join(folder, junk)
            if os.path.exists(p):
                os.remove(p)
        size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
        print(f"{name}: {folder} {size/1024:.0f} KB, loss {out.loss.item():.5f}, "
              f"logits std {out.logits.std().item():.3f}")
        with open(os.path.join(folder, "config.json")) as f:
            print("  config keys:", sorted(json.load(f).keys()))


if __name__ == "__main__":
    main()
