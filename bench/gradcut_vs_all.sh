#!/usr/bin/env bash
# GradCut vs all-matrix LoRA at the same number of steps: median time per optimizer step, peak
# memory and final held-out loss of each, and their ratios. Every run is its own process (so each
# peak is its own): `edgetune plan` (GradCut's calibration, timed separately), then `edgetune
# train` with adapters.policy all, then with the plan.
#
#   bench/gradcut_vs_all.sh [RECIPE] [--out DIR] [--set key=value]...
#   bench/gradcut_vs_all.sh --qwen-shape [--pretrain STEPS [--base DIR]] [--out DIR] [--set key=value]...
#
# RECIPE defaults to recipes/stories-tools.yaml. --qwen-shape trains a model of Qwen2.5-0.5B's
# shape (hidden 896, intermediate 4864, 24 layers, 14 heads, 2 KV heads, vocab 151936, tied
# embeddings) from random weights (model.init: random, so no download), written to
# DIR/qwen2.5-0.5b-shape with stories260K's tokenizer.model (ids < 512 are valid in that vocab), on
# data/stories-tools. QWEN_HIDDEN, QWEN_INTERMEDIATE, QWEN_LAYERS, QWEN_HEADS, QWEN_KV_HEADS and
# QWEN_VOCAB override the shape (for a quick CPU smoke run).
#
# --pretrain STEPS makes the comparison on a pretrained model instead: the Qwen-shape model is first
# pretrained from scratch (adapters.policy full, every weight) for STEPS steps on the demo's base
# corpus (data/make_demo_corpus.sh: general assistant conversations with everyday and home tools,
# and its 1024-piece tokenizer), then GradCut and all-matrix LoRA personalize it on the demo's
# personal set (one user's habits with the home tools), as scripts/demo.sh does with its 4-layer base. The base goes to
# --base DIR (default DIR/base) and is reused when its run/model/config.json exists.
# --gradcut-set key=value applies to GradCut's plan and training only (e.g. keep counts).
#
# Writes DIR/report.md (also printed) and DIR/report.json; DIR defaults to ${OUT:-runs}/gradcut-bench.
# The verdict uses the time per step over the whole run: every step's time plus the cut-layer
# cache filling, over the steps (a warm-up's full steps count); the median and 10th percentile
# (skipping the first 3 steps) are reported too. GradCut's loss may be at most 2% above.
# The binary is $EDGETUNE (default build/edgetune); run from the repository root. GPU peak memory
# is sampled with nvidia-smi (whole process: context + allocator cache); CPU peak memory is the
# process's peak RSS from metrics.jsonl.
set -euo pipefail

cd "$(dirname "$0")/.."
ET=${EDGETUNE:-build/edgetune}
RECIPE=recipes/stories-tools.yaml
DIR=${OUT:-runs}/gradcut-bench
QWEN=0
PRETRAIN=0
BASE=""
SETS=()
GC_SETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) DIR=$2; shift 2 ;;
    --set) SETS+=(--set "$2"); shift 2 ;;
    --gradcut-set) GC_SETS+=(--set "$2"); shift 2 ;;
    --qwen-shape) QWEN=1; shift ;;
    --pretrain) PRETRAIN=$2; shift 2 ;;
    --base) BASE=$2; shift 2 ;;
    -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
    *) RECIPE=$1; shift ;;
  esac
done
[[ -x $ET ]] || { echo "gradcut_vs_all: $ET is not built (set EDGETUNE)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "gradcut_vs_all: python3 is needed to read metrics.jsonl" >&2; exit 1; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
[[ $PRETRAIN == 0 || $QWEN == 1 ]] || { echo "gradcut_vs_all: --pretrain needs --qwen-shape" >&2; exit 1; }

if [[ $QWEN == 1 ]]; then
  MODEL=$DIR/qwen2.5-0.5b-shape
  mkdir -p "$MODEL"
  cat > "$MODEL/config.json" <<EOF
{
  "architectures": ["Qwen2ForCausalLM"],
  "model_type": "qwen2",
  "hidden_size": ${QWEN_HIDDEN:-896},
  "intermediate_size": ${QWEN_INTERMEDIATE:-4864},
  "num_hidden_layers": ${QWEN_LAYERS:-24},
  "num_attention_heads": ${QWEN_HEADS:-14},
  "num_key_value_heads": ${QWEN_KV_HEADS:-2},
  "vocab_size": ${QWEN_VOCAB:-151936},
  "max_position_embeddings": 32768,
  "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0,
  "hidden_act": "silu",
  "tie_word_embeddings": true,
  "bos_token_id": 1,
  "eos_token_id": 2,
  "torch_dtype": "bfloat16"
}
EOF
  INIT=random
  if [[ $PRETRAIN == 0 ]]; then
    cp ../shared/models/stories260K/tokenizer.model "$MODEL/tokenizer.model"
    TRAIN=$PWD/data/stories-tools/train.jsonl EVAL=$PWD/data/stories-tools/eval.jsonl LR=1.0e-3
  else
    BASE=${BASE:-$DIR/base}
    mkdir -p "$BASE"
    BASE=$(cd "$BASE" && pwd)
    [[ -s $BASE/data/base-init/tokenizer.model ]] || bash data/make_demo_corpus.sh "$BASE/data"
    cp "$BASE/data/base-init/tokenizer.model" "$MODEL/tokenizer.model"
    if [[ ! -s $BASE/run/model/config.json ]]; then
      echo "== pretraining the Qwen-shape model from scratch for $PRETRAIN steps (demo base corpus)" >&2
      cat > "$BASE/pretrain.yaml" <<EOF
# Qwen2.5-0.5B shape pretrained from scratch on the demo's base corpus (every weight trains).
model:
  path: $MODEL
  init: random
quant:
  backbone: none
adapters:
  policy: full
data:
  train: $BASE/data/base_train.jsonl
  eval: $BASE/data/base_eval.jsonl
  max_seq_len: 512
  chat_template: plain
train:
  max_steps: $PRETRAIN
  batch_size: 16
  lr: ${PRETRAIN_LR:-6.0e-4}
  warmup_steps: 20
  min_lr_ratio: 0.1
  weight_decay: 0.01
  eval_every: 0
  save_every: 0
  seed: 1
output:
  dir: $BASE/run
  export_peft: false
EOF
      t0=$(date +%s)
      "$ET" train "$BASE/pretrain.yaml" > "$BASE/pretrain.json"
      echo "pretraining took $(( $(date +%s) - t0 )) s: $(cat "$BASE/pretrain.json")" >&2
    fi
    MODEL=$BASE/run/model INIT=pretrained
    TRAIN=$BASE/data/personal_train.jsonl EVAL=$BASE/data/personal_eval.jsonl LR=${LORA_LR:-2.0e-3}
  fi
  RECIPE=$DIR/qwen-shape.yaml
  cat > "$RECIPE" <<EOF
# Qwen2.5-0.5B shape from random weights: QLoRA timing of GradCut vs all-matrix LoRA.
model:
  path: $MODEL
  init: $INIT
quant:
  backbone: nf4
adapters:
  rank: 8
  alpha: 16
data:
  train: $TRAIN
  eval: $EVAL
  max_seq_len: 512
  chat_template: plain
train:
  max_steps: 100
  batch_size: 16
  lr: $LR
  warmup_steps: 10
  eval_every: 0
  save_every: 0
  seed: 0
EOF
fi

GPU_PEAK=""
# Runs "$@" while sampling the GPU memory in use (MiB) every 200 ms; sets GPU_PEAK.
run_sampled() {
  local log=$1; shift
  if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$log.gpu" 2>/dev/null &
    local sampler=$!
    local base
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1)
    "$@"
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    GPU_PEAK=$(awk -v b="$base" 'BEGIN{m=0} {if ($1>m) m=$1} END{print m-b}' "$log.gpu")
  else
    "$@"
    GPU_PEAK=""
  fi
}

common=(--set output.export_peft=false "${SETS[@]}")
echo "gradcut_vs_all: recipe $RECIPE, output $DIR" >&2

echo "== plan (GradCut calibration)" >&2
t0=$(date +%s.%N)
"$ET" plan "$RECIPE" "${common[@]}" "${GC_SETS[@]}" --set output.dir="$DIR/gradcut" -o "$DIR/plan.json" > "$DIR/plan.txt"
t1=$(date +%s.%N)
PLAN_S=$(python3 -c "print($t1 - $t0)")

echo "== all-matrix LoRA" >&2
run_sampled "$DIR/all" "$ET" train "$RECIPE" "${common[@]}" --set adapters.policy=all --set output.dir="$DIR/all" > "$DIR/all.json"
GPU_ALL=$GPU_PEAK
echo "== GradCut" >&2
run_sampled "$DIR/gradcut" "$ET" train "$RECIPE" "${common[@]}" "${GC_SETS[@]}" --set adapters.policy=gradcut \
  --set adapters.plan="$DIR/plan.json" --set output.dir="$DIR/gradcut" > "$DIR/gradcut.json"
GPU_GC=$GPU_PEAK

# Tool calls on the held-out conversations with each patch (edgetune eval; EVAL_LIMIT conversations,
# default all), on the GPU when there is one.
EVAL_DEV=()
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then EVAL_DEV=(--device cuda --dtype bfloat16); fi
resolved() { sed -n "s/^ *$1: *\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$DIR/all/recipe.resolved.yaml" | head -n 1; }
EVAL_DATA=$(resolved eval)
MODEL_PATH=$(resolved path)
for run in all gradcut; do
  echo "== eval ($run)" >&2
  "$ET" eval --model "$MODEL_PATH" --patch "$DIR/$run/patch.safetensors" --data "$EVAL_DATA" --no-loss \
    --limit "${EVAL_LIMIT:-0}" --chat-template "$(resolved chat_template)" --format "$(resolved format)" \
    --system-prompt "$(resolved system_prompt)" "${EVAL_DEV[@]}" > "$DIR/$run.eval.json" || echo '{}' > "$DIR/$run.eval.json"
done

python3 - "$DIR" "$RECIPE" "$PLAN_S" "$GPU_ALL" "$GPU_GC" "${SETS[*]:-} ${GC_SETS[*]:-}" <<'EOF'
import json, statistics, sys
sys.path.insert(0, "bench")
from step_summary import mean_with_cache
d, recipe, plan_s, gpu_all, gpu_gc, sets = sys.argv[1:7]

def summary(name, gpu):
    rows = [json.loads(l) for l in open(f"{d}/{name}/metrics.jsonl")]
    steps = [r for r in rows if "step_s" in r]
    timed = [r["step_s"] for r in steps[3:]] or [r["step_s"] for r in steps]  # skip warm-up steps
    evals = [r for r in rows if "eval_loss" in r]
    p10 = sorted(timed)[len(timed) // 10]
    return {
        "steps": steps[-1]["step"],
        "step_s_median": statistics.median(timed),
        "step_s_p10": p10,
        "step_s_mean": sum(timed) / len(timed),
        # every step (warm-up steps included) plus the cut-layer cache filling, over the steps
        "step_s_mean_all": mean_with_cache(steps, json.load(open(f"{d}/{name}.json"))),
        "peak_mem_mb": float(gpu) if gpu else max(r.get("mem_mb", 0) for r in steps),
        "peak_mem_kind": "GPU (nvidia-smi)" if gpu else "host RSS",
        "eval_loss_start": evals[0]["eval_loss"],
        "eval_loss_end": evals[-1]["eval_loss"],
        "final_train_loss": steps[-1]["loss"],
        "tool_calls": json.load(open(f"{d}/{name}.eval.json")),
    }

a, g = summary("all", gpu_all), summary("gradcut", gpu_gc)
plan = json.load(open(f"{d}/plan.json"))
t = plan["totals"]
rep = {
    "recipe": recipe, "overrides": sets, "all": a, "gradcut": g, "plan_seconds": float(plan_s),
    "plan": {"counts": t["counts"], "cut_layer": t["cut_layer"], "num_layers": t["num_layers"],
             "trainable_parameters": t["trainable_parameters"],
             "all_matrix_trainable_parameters": t["all_matrix_lora"]["trainable_parameters"],
             "model_saved_percent": t["saved_percent"]},
    "time_per_step_median_ratio": g["step_s_median"] / a["step_s_median"],
    "time_per_step_p10_ratio": g["step_s_p10"] / a["step_s_p10"],
    "peak_memory_ratio": g["peak_mem_mb"] / a["peak_mem_mb"] if a["peak_mem_mb"] else None,
    "eval_loss_diff_percent": 100 * (g["eval_loss_end"] - a["eval_loss_end"]) / a["eval_loss_end"],
}
# The verdict's time is the mean over the whole run (a warm-up's full steps and the cache filling
# count); the median where a run has no metrics row per step.
over_run = a["step_s_mean_all"] is not None and g["step_s_mean_all"] is not None
key = "step_s_mean_all" if over_run else "step_s_median"
rep["time_per_step_ratio"] = g[key] / a[key]
rep["time_per_step_saved_percent"] = 100 * (1 - rep["time_per_step_ratio"])
rep["target_met"] = rep["time_per_step_saved_percent"] >= 35 and rep["eval_loss_diff_percent"] <= 2
json.dump(rep, open(f"{d}/report.json", "w"), indent=2)
c = t["counts"]
lines = [
    f"GradCut vs all-matrix LoRA: {recipe} {sets}".rstrip(),
    "",
    "| | all-matrix LoRA | GradCut | GradCut / all |",
    "| --- | --- | --- | --- |",
    *([f"| time per step over the run (with the cache filling, s) | {a['step_s_mean_all']:.4f} | "
       f"{g['step_s_mean_all']:.4f} | {rep['time_per_step_ratio']:.3f} |"] if over_run else []),
    f"| time per step (median, s) | {a['step_s_median']:.4f} | {g['step_s_median']:.4f} | "
    f"{rep['time_per_step_median_ratio']:.3f} |",
    f"| time per step (10th percentile, s) | {a['step_s_p10']:.4f} | {g['step_s_p10']:.4f} | "
    f"{rep['time_per_step_p10_ratio']:.3f} |",
    f"| peak memory (MB, {a['peak_mem_kind']}) | {a['peak_mem_mb']:.0f} | {g['peak_mem_mb']:.0f} | "
    + (f"{rep['peak_memory_ratio']:.3f} |" if rep["peak_memory_ratio"] else "- |"),
    f"| held-out loss after {a['steps']} steps (start {a['eval_loss_start']:.4f}) | {a['eval_loss_end']:.4f} | "
    f"{g['eval_loss_end']:.4f} | {g['eval_loss_end'] / a['eval_loss_end']:.3f} |",
    *[f"| {label} ({a['tool_calls'].get('conversations', 0)} held-out conversations) | {a['tool_calls'][k]:.3f} | "
      f"{g['tool_calls'][k]:.3f} | - |"
      for k, label in (("tool_name_accuracy", "tool name accuracy"), ("tool_call_exact_match", "tool call exact match"))
      if k in a["tool_calls"] and k in g["tool_calls"]],
    f"| trainable parameters | {t['all_matrix_lora']['trainable_parameters']} | {t['trainable_parameters']} | "
    f"{t['trainable_parameters'] / t['all_matrix_lora']['trainable_parameters']:.3f} |",
    "",
    f"GradCut plan: {c['dedicated']} dedicated, {c['shared']} shared, {c['none']} none; cut layer {t['cut_layer']} of "
    f"{t['num_layers']}; calibration {plan_s and float(plan_s):.1f} s (whole `edgetune plan` process). Model of the "
    f"plan: backward FLOPs {-t['saved_percent']['backward_flops']:+.1f}%, training FLOPs "
    f"{-t['saved_percent']['training_flops']:+.1f}% ({-t['saved_percent'].get('training_flops_cut_cache', 0):+.1f}% once "
    f"the cut-layer cache is filled), activation bytes {-t['saved_percent']['activation_bytes']:+.1f}%"
    + (f" (a step after the warm-up of {t['warmup']['steps']} steps)" if "warmup" in t else "") + ".",
    f"Time per step saved ({'over the run' if over_run else 'median'}): {rep['time_per_step_saved_percent']:.1f}% "
    f"(target >= 35%); held-out loss {rep['eval_loss_diff_percent']:+.2f}% (target: at most 2% above): "
    f"target {'met' if rep['target_met'] else 'NOT met'}.",
]
open(f"{d}/report.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
