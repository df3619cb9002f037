#!/usr/bin/env python3
"""Writes hf_tokenizers_golden.json: ids and decoded text from Hugging Face `tokenizers` for
tokenizer.json variants built on vocabularies in ../shared, to check our tokenizer.json support
against the real library (tests/tokenize/hf_golden_test.cpp rebuilds the same files).

Each variant is a tokenizer.json "skeleton" (everything but model.vocab and model.merges) plus a
base that supplies vocab and merges:
  gpt2-gguf    tokens and merges of tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf
  llama2-json  model.vocab and model.merges of tokenizers/llama2/tokenizer.json (merges written as
               [a, b] pairs here because tokenizers cannot read its "a b" lines of spaces)

Run where `tokenizers` is installed:  python3 make_hf_golden.py SHARED_DIR OUT.json
"""
import json
import random
import struct
import sys

import tokenizers
from tokenizers import Tokenizer

shared, out_path = sys.argv[1], sys.argv[2]


def gguf_arrays(path, keys):
    f = open(path, "rb").read()
    p = 4

    def rd(fmt):
        nonlocal p
        v = struct.unpack_from("<" + fmt, f, p)
        p += struct.calcsize("<" + fmt)
        return v[0]

    def rs():
        nonlocal p
        n = rd("Q")
        s = f[p:p + n]
        p += n
        return s.decode("utf-8")

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def rv(t):
        if t in scalar:
            return rd(scalar[t])
        if t == 8:
            return rs()
        et = rd("I")
        return [rv(et) for _ in range(rd("Q"))]

    rd("I"), rd("Q")
    out = {}
    for _ in range(rd("Q")):
        k = rs()
        v = rv(rd("I"))
        if k in keys:
            out[k] = v
    return out


def base_gpt2():
    g = gguf_arrays(f"{shared}/tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf",
                    {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"})
    return {t: i for i, t in enumerate(g["tokenizer.ggml.tokens"])}, g["tokenizer.ggml.merges"]


def base_llama2():
    m = json.load(open(f"{shared}/tokenizers/llama2/tokenizer.json", encoding="utf-8"))["model"]
    v = m["vocab"]

    def pair(line):  # the first split whose halves and concatenation are tokens
        for i in range(1, len(line) - 1):
            if line[i] == " " and line[:i] in v and line[i + 1:] in v and line[:i] + line[i + 1:] in v:
                return [line[:i], line[i + 1:]]
        raise ValueError(line)

    return v, [pair(x) for x in m["merges"]]


def added(i, content, special, lstrip=False, rstrip=False, single_word=False, normalized=None):
    return {"id": i, "content": content, "single_word": single_word, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": (not special) if normalized is None else normalized, "special": special}


QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
gpt2_vocab, gpt2_merges = base_gpt2()
n = len(gpt2_vocab)
gpt2_added = [added(50256, "<|endoftext|>", True), added(n, "<|im_start|>", True), added(n + 1, "<|im_end|>", True),
              added(n + 2, "<tool_call>", False), added(n + 3, "<sep>", False, True, True),
              added(n + 4, " ab", False, single_word=True), added(n + 5, "[MASK]", True, lstrip=True),
              added(gpt2_vocab["hello"], "hello", False), added(n + 6, "XyZ", False, single_word=True, normalized=False)]
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}


def byte_level_variant(regex, ignore_merges):
    return {"base": "gpt2-gguf", "tokenizer": {
        "version": "1.0", "added_tokens": gpt2_added, "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}, BYTE_LEVEL]},
        "post_processor": BYTE_LEVEL, "decoder": BYTE_LEVEL,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "fuse_unk": False, "byte_fallback": False,
                  "ignore_merges": ignore_merges}}}


llama2 = json.load(open(f"{shared}/tokenizers/llama2/tokenizer.json", encoding="utf-8"))
llama2_model = {k: v for k, v in llama2["model"].items() if k not in ("vocab", "merges")}
SPM_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
    {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
TEMPLATE = llama2["post_processor"]
llama2_specials = [added(0, "<unk>", True, normalized=False), added(1, "<s>", True, normalized=False),
                   added(2, "</s>", True, normalized=False)]
llama2_extra = [added(32000, "<tool>", False, normalized=False), added(32001, "<|x|>", True, normalized=False),
                added(32002, "[sep]", False, True, True, normalized=False), added(32003, " ok", False, normalized=True)]


def metaspace(scheme, split):
    return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme, "split": split}


variants = {
    "qwen2_byte_level": byte_level_variant(QWEN2, False),
    "llama3_byte_level": byte_level_variant(LLAMA3, True),
    "llama2_prepend_replace": {"base": "llama2-json", "tokenizer": {
        "version": "1.0", "added_tokens": llama2_specials + llama2_extra, "normalizer": llama2["normalizer"],
        "pre_tokenizer": None, "post_processor": TEMPLATE, "decoder": SPM_DECODER, "model": llama2_model}},
    "llama2_metaspace_first": {"base": "llama2-json", "tokenizer": {
        "version": "1.0", "added_tokens": llama2_specials, "normalizer": None,
        "pre_tokenizer": metaspace("first", False), "post_processor": TEMPLATE, "decoder": SPM_DECODER,
        "model": llama2_model}},
    "llama2_metaspace_split_always": {"base": "llama2-json", "tokenizer": {
        "version": "1.0", "added_tokens": llama2_specials, "normalizer": None,
        "pre_tokenizer": metaspace("always", True), "post_processor": TEMPLATE,
        "decoder": metaspace("always", True), "model": llama2_model}},
}

random.seed(20240611)
raw = open(f"{shared}/tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf.inp", encoding="utf-8").read()
strings = raw.split("\n__ggml_vocab_test__\n")[:-1]
words = ["the", "cat", "Hello", "world", "don't", "I'LL", "IT'S", "3.14", "2024", "12345", "ab", " ab", "hello", "XyZ",
         "xXyZ", "<s>", "</s>", "<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tool_call>", "<sep>",
         "[MASK]", "<tool>", "<|x|>", "[sep]", " ok", "caf\u00e9", "cafe\u0301", "\u212b", "\U0001F999", "\u4e2d\u6587"]
spaces = [" ", "  ", "   ", "\t", "\n", " \n ", "\r\n", "", "\u00a0", "\u3000"]
for _ in range(110):
    strings.append("".join(random.choice(words) + random.choice(spaces) for _ in range(random.randint(1, 8))))
id_seqs = [[random.choice([random.randint(0, 300), random.randint(0, 31999)]) for _ in range(random.randint(1, 8))]
           for _ in range(60)]

result = {"tokenizers_version": tokenizers.__version__, "strings": strings, "id_seqs": id_seqs, "variants": {}}
for name, v in variants.items():
    vocab, merges = base_gpt2() if v["base"] == "gpt2-gguf" else base_llama2()
    full = json.loads(json.dumps(v["tokenizer"]))
    full["model"]["vocab"] = vocab
    full["model"]["merges"] = merges
    tok = Tokenizer.from_str(json.dumps(full))
    enc = [tok.encode(s, add_special_tokens=False).ids for s in strings]
    result["variants"][name] = {
        "base": v["base"], "tokenizer": v["tokenizer"], "ids": enc,
        "ids_with_special": [tok.encode(s, add_special_tokens=True).ids for s in strings],
        "decoded": [tok.decode(e, skip_special_tokens=True) for e in enc],
        "decoded_ids": [tok.decode(ids, skip_special_tokens=True) for ids in id_seqs],
    }
json.dump(result, open(out_path, "w", encoding="utf-8"), ensure_ascii=False, separators=(",", ":"))
print("wrote", out_path, "with tokenizers", tokenizers.__version__)
