#!/usr/bin/env bash
# The demo's data, generated (seeded): the base corpus (general assistant: everyday tools and the
# home tools used the way anyone would), the personalization set (the home tools with one user's
# habits) and a SentencePiece BPE tokenizer of 1024
# pieces (byte fallback) trained on the base corpus, written to OUT/base-init/tokenizer.model.
# Used by scripts/demo.sh and bench/gradcut_vs_all.sh --pretrain.
#
#   data/make_demo_corpus.sh OUT
#
# The tokenizer is trained with spm_train (Debian's sentencepiece) or, where only Python has it,
# with the sentencepiece module: the same trainer and options.
set -euo pipefail
out=${1:?usage: data/make_demo_corpus.sh OUT}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/base-init"
python3 "$here/make_agent_data.py" --suite base --n-train 3000 --n-eval 100 --seed 1 --out "$out" >&2
python3 "$here/make_agent_data.py" --suite personal --n-train 400 --n-eval 60 --seed 2 --out "$out" >&2
opts=(--input="$out/corpus.txt" --model_prefix="$out/base-init/tokenizer" --model_type=bpe --vocab_size=1024
  --byte_fallback=true --normalization_rule_name=identity --remove_extra_whitespaces=false
  --character_coverage=1.0 --split_digits=true --num_threads="$(nproc)" --minloglevel=2)
if command -v spm_train >/dev/null; then
  spm_train "${opts[@]}" >&2
elif python3 -c "import sentencepiece" 2>/dev/null; then
  python3 -c "import sys, sentencepiece as spm; spm.SentencePieceTrainer.Train(' '.join(sys.argv[1:]))" "${opts[@]}" >&2
else
  echo "make_demo_corpus: neither spm_train nor Python's sentencepiece is installed" \
    "(apt install sentencepiece)" >&2
  exit 1
fi
