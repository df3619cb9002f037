#!/usr/bin/env bash
# GradCut settings on the pretrained Qwen2.5-0.5B-shape model (GPU). Makes the base once (pretrained
# from scratch for PRETRAIN steps, default 1000, by bench/gradcut_vs_all.sh --qwen-shape --pretrain,
# reused when OUT_DIR/base exists), then trains every variant with bench/gradcut_variants.sh at
# COMMON settings (default: 300 steps, lr 4e-3, eval every 100) and prints one summary line each.
#
#   bench/gradcut_gpu_sweep.sh OUT_DIR "name: --set k=v ..." ["name: ..."]...
#
# In a variant, @all stands for all-matrix LoRA at the recipe's rank 8 and @half for GradCut keeping
# half of each type with every survivor dedicated (add its rank and alpha). Example:
#
#   EDGETUNE=build-cuda/edgetune bench/gradcut_gpu_sweep.sh /tmp/sweep "all: @all" \
#     "half-r32: @half --set adapters.gradcut.dedicated_rank=32 --set adapters.gradcut.dedicated_alpha=64"
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: bench/gradcut_gpu_sweep.sh OUT_DIR \"name: --set k=v ...\"...}
shift
common=${COMMON:---set train.max_steps=300 --set train.lr=4e-3 --set train.eval_every=100}
all="--set adapters.policy=all"
half="--set adapters.policy=gradcut --set adapters.gradcut.keep_attention=0.5 --set adapters.gradcut.keep_mlp=0.5"
half+=" --set adapters.gradcut.threshold=-100"
mkdir -p "$out"
[[ -s $out/d/qwen-shape.yaml ]] ||
  EVAL_LIMIT=1 bash bench/gradcut_vs_all.sh --qwen-shape --pretrain "${PRETRAIN:-1000}" --base "$out/base" \
    --out "$out/d" --set train.max_steps=5 > "$out/base.log" 2>&1 || { tail -20 "$out/base.log"; exit 1; }
variants=()
for v in "$@"; do
  v=${v//@all/$all}
  variants+=("${v//@half/$half} $common")
done
bash bench/gradcut_variants.sh "$out/d/qwen-shape.yaml" "$out/v" "${variants[@]}"
