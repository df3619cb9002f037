#!/usr/bin/env bash
# The demo's base model: a small Llama pretrained from scratch (recipes/demo-base.yaml) on the
# generated agent corpus (data/make_demo_corpus.sh), written to data/cache/demo/base-run/model.
# Cached: made again only when something that shapes it changes (the generators, the config or the
# recipe; data/cache/demo/stamp holds their hash). Used by scripts/demo.sh and
# bench/retune_releases.sh.
#
#   data/make_demo_base.sh [EDGETUNE]        (default build/edgetune; run from anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
ET=${1:-build/edgetune}
cache=data/cache/demo
stamp=$(cat data/make_agent_data.py data/make_demo_corpus.sh data/demo-base-config.json recipes/demo-base.yaml | sha256sum | cut -c1-16)
if [ "$(cat "$cache/stamp" 2>/dev/null)" != "$stamp" ]; then
  printf '\n== %s\n' "data: generated agent conversations (seeded) and a SentencePiece BPE tokenizer (1024 pieces)" >&2
  rm -rf "$cache"
  bash data/make_demo_corpus.sh "$cache"
  cp data/demo-base-config.json "$cache/base-init/config.json"
  printf '\n== %s\n' "base model: pretraining from scratch (recipes/demo-base.yaml)" >&2
  "$ET" train recipes/demo-base.yaml > "$cache/base-summary.json"
  echo "$stamp" > "$cache/stamp"
else
  printf '\n== %s\n' "base model: cached in $cache/base-run/model" >&2
fi
