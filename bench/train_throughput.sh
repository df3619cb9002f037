#!/usr/bin/env bash
# Training throughput on one GPU: edgetune (bf16 LoRA and NF4 QLoRA, gradient checkpointing off and
# on) against Hugging Face transformers + peft (bench/peft_baseline.py, SDPA attention) in one run,
# on the Llama-3.2-1B and Qwen2.5-0.5B shapes (random init): batch 8 x 2048 tokens, one random
# conversation per row, labels = inputs; and 32 x 512 packed rows of short real conversations
# (data/stories-tools), where fixed per-step costs dominate. LoRA r=16, alpha=32 on all seven
# projections, AdamW, clipping at 1.0, bf16 compute on both sides.
#
# On the GPU machine, from the repository root (the packages of ../shared/device/prepare.sh in
# .device/, ../shared beside the checkout or in .device/shared):
#   bash bench/train_throughput.sh [--shapes "llama qwen"] [--ckpt "off on"] [--modes "bf16 nf4"]
#                                  [--no-packed] [--no-peft] [--profile] [--steps N] [--no-build]
# Writes $OUT (default out/): throughput.jsonl (every run), table.md (the table with ratios,
# achieved TFLOP/s and fraction of the measured bf16 matmul peak; also spliced into
# bench/RESULTS.md, copied to $OUT/RESULTS.md), profile_*.md (per-op GPU time) with --profile.
set -uo pipefail
cd "$(dirname "$0")/.."
args="$*"
OUT=${OUT:-out}
mkdir -p "$OUT"
BUILD=${BUILD:-build-cuda}
shapes="llama qwen" ckpts="off on" modes="bf16 nf4" packed=1 peft=1 profile=0 steps=6 build=1
while [ $# -gt 0 ]; do
  case $1 in
    --shapes) shapes=$2; shift 2 ;;
    --ckpt) ckpts=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --no-packed) packed=0; shift ;;
    --no-peft) peft=0; shift ;;
    --profile) profile=1; shift ;;
    --steps) steps=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    *) echo "train_throughput.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
# shellcheck disable=SC1091
[ -f .device/env.sh ] && source .device/env.sh >/dev/null
[ -e ../shared ] || { [ -d .device/shared ] && ln -s "$PWD/.device/shared" ../shared; }
t0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" >&2; }

if [ "$build" = 1 ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEDGETUNE_CUDA=ON > "$OUT/configure.log" 2>&1 ||
    { tail -30 "$OUT/configure.log"; exit 1; }
  cmake --build "$BUILD" -j "$(nproc)" --target train_throughput > "$OUT/build.log" 2>&1 ||
    { grep -E "error|Error" "$OUT/build.log" | head -40; exit 1; }
  stamp "built train_throughput"
fi
TT=$BUILD/bench/train_throughput

work=${WORK:-/tmp/edgetune-throughput}
mkdir -p "$work/llama" "$work/qwen"
cat > "$work/llama/config.json" <<'EOF'
{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
 "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
 "num_key_value_heads": 8, "head_dim": 64, "hidden_act": "silu", "max_position_embeddings": 131072,
 "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
 "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                  "original_max_position_embeddings": 8192, "rope_type": "llama3"},
 "tie_word_embeddings": true, "vocab_size": 128256, "attention_bias": false, "mlp_bias": false,
 "bos_token_id": 128000, "eos_token_id": 128001, "torch_dtype": "bfloat16"}
EOF
cat > "$work/qwen/config.json" <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
 "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
 "num_key_value_heads": 2, "hidden_act": "silu", "max_position_embeddings": 32768,
 "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true,
 "vocab_size": 151936, "use_sliding_window": false, "bos_token_id": 151643,
 "eos_token_id": 151643, "torch_dtype": "bfloat16"}
EOF

res=$OUT/throughput.jsonl
: > "$res"
python3 bench/peft_baseline.py --matmul-peak >> "$res" 2>> "$OUT/peft.log"
stamp "matmul peak: $(tail -1 "$res")"

# ours SHAPE CKPT MODE DATA [extra args...]: one edgetune run, a JSON line into $res.
ours() {
  local shape=$1 ckpt=$2 mode=$3 data=$4; shift 4
  local args=(--model "$work/$shape" --steps "$steps" --warmup 2)
  [ "$ckpt" = on ] && args+=(--grad-checkpoint)
  [ "$mode" = nf4 ] && args+=(--quant nf4) || args+=(--quant none)
  if [ "$data" = packed ]; then
    args+=(--batch 32 --seq 512 --data data/stories-tools/train.jsonl --tokenizer ../shared/models/stories260K
           --dump-rows "$work/rows-$shape.json")
  else
    args+=(--batch 8 --seq 2048)
  fi
  local line
  line=$("$TT" "${args[@]}" "$@" 2>> "$OUT/ours.log") || { stamp "FAILED: ours $shape $ckpt $mode $data"; return; }
  echo "$line" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(side='edgetune', shape='$shape', mode='$mode', data='$data'); print(json.dumps(d))" >> "$res"
  stamp "edgetune $shape ckpt=$ckpt $mode $data: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["tokens_per_s"]), "tok/s", round(d["peak_mb"]), "MB")')"
}
theirs() {
  local shape=$1 ckpt=$2 data=$3
  local args=(--model "$work/$shape" --steps "$steps" --warmup 2)
  [ "$ckpt" = on ] && args+=(--grad-checkpoint)
  if [ "$data" = packed ]; then args+=(--batch 32 --seq 512 --rows "$work/rows-$shape.json"); else args+=(--batch 8 --seq 2048); fi
  local line
  line=$(python3 bench/peft_baseline.py "${args[@]}" 2>> "$OUT/peft.log") || { stamp "FAILED: peft $shape $ckpt $data"; return; }
  echo "$line" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(side='peft', shape='$shape', mode='bf16', data='$data'); print(json.dumps(d))" >> "$res"
  stamp "peft $shape ckpt=$ckpt $data: $(echo "$line" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(round(d["tokens_per_s"]), "tok/s", round(d["peak_mb"]), "MB")')"
}

for shape in $shapes; do
  for ckpt in $ckpts; do
    for mode in $modes; do
      extra=()
      [ "$profile" = 1 ] && [ "$mode" = bf16 ] && [ "$ckpt" = off ] && extra=(--profile "$work/trace-$shape.json")
      ours "$shape" "$ckpt" "$mode" random "${extra[@]}"
      if [ ${#extra[@]} -gt 0 ] && [ -s "$work/trace-$shape.json" ]; then
        python3 bench/profile_summary.py "$work/trace-$shape.json" --title "edgetune $shape bf16, 8 x 2048, one step" > "$OUT/profile_$shape.md"
      fi
    done
    [ "$peft" = 1 ] && theirs "$shape" "$ckpt" random
  done
  if [ "$packed" = 1 ]; then
    for mode in $modes; do
      extra=()
      [ "$profile" = 1 ] && [ "$mode" = bf16 ] && extra=(--profile "$work/trace-$shape-packed.json")
      ours "$shape" off "$mode" packed "${extra[@]}"
      if [ ${#extra[@]} -gt 0 ] && [ -s "$work/trace-$shape-packed.json" ]; then
        python3 bench/profile_summary.py "$work/trace-$shape-packed.json" --title "edgetune $shape bf16, 32 x 512 packed, one step" > "$OUT/profile_${shape}_packed.md"
      fi
    done
    [ "$peft" = 1 ] && theirs "$shape" off packed
  fi
done
# The table, also into bench/RESULTS.md (between its train_throughput markers), with this command.
python3 bench/throughput_table.py "$res" --splice bench/RESULTS.md --command "bash bench/train_throughput.sh $args" > "$OUT/table.md"
cp bench/RESULTS.md "$OUT/RESULTS.md"
cat "$OUT/table.md"
stamp "done"
