#!/usr/bin/env bash
# Training-step throughput on the CPU, fast kernel path against the reference path
# (train.kernels: fast | reference), on stories260K and a ~30M-parameter Llama shape (hidden 512,
# 8 layers, 8 heads of 64, intermediate 1408, vocabulary 8192 tied: 29.9M parameters), random init,
# float32, packed rows of the stories-tools conversations, LoRA r=16 on all seven projections,
# AdamW; the cores' float32 FMA peak measured in the same run (bench_nf4_matmul's BM_PeakFp32Fma on
# the same number of threads).
#
#   bash bench/cpu_throughput.sh [--out DIR] [--quant "nf4 none"] [--shapes "stories260K llama30m"]
#                                [--threads N] [--steps N] [--warmup N] [--batch 8] [--seq 256]
#                                [--rounds 2] [--wait-policies "active passive"] [--splice bench/RESULTS.md]
#
# Each side also runs under each OpenMP wait policy (OMP_WAIT_POLICY, read by libgomp at start):
# libtorch's reference ops mix OpenMP loops with OpenBLAS's own threads, and OpenMP threads that
# spin after a loop (active, the default) take the cores OpenBLAS needs (the reference ran 1.6x
# faster with passive); the fast path has no BLAS and gains from spinning. The table takes each
# side's best run over rounds and policies, and names the policy.
#
# Writes DIR/llama30m/config.json, one JSON line per run to DIR/runs.jsonl, and the table
# (bench/cpu_throughput_table.py) to stdout and, with --splice, into that file between its
# cpu_throughput markers with the command that made it. Runs alternate fast and reference
# `--rounds` times so that a shared machine's load falls on both alike; the table takes each
# side's best round and notes the load average before and after. Timings need a quiet machine.
# Build first: cmake --build build --target train_throughput bench_nf4_matmul
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="$root/runs/cpu-throughput"
quants="nf4"
shapes="stories260K llama30m"
threads="$(nproc)"
steps=4
warmup=1
batch=8
seq=256
rounds=2
policies="active passive"
splice=""
bin="$root/build/bench/train_throughput"
peak_bin="$root/build/bench/bench_nf4_matmul"
args="$*"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --quant) quants="$2"; shift 2 ;;
    --shapes) shapes="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --seq) seq="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --wait-policies) policies="$2"; shift 2 ;;
    --splice) splice="$2"; shift 2 ;;
    --bin) bin="$2"; shift 2 ;;
    *) echo "cpu_throughput.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
for b in "$bin" "$peak_bin"; do
  [[ -x "$b" ]] || { echo "cpu_throughput.sh: build $b first (cmake --build build --target train_throughput bench_nf4_matmul)" >&2; exit 1; }
done
shared="$root/../shared/models/stories260K"
[[ -f "$shared/config.json" ]] || { echo "cpu_throughput.sh: $shared/config.json is missing" >&2; exit 1; }
mkdir -p "$out/llama30m"
python3 - "$shared/config.json" "$out/llama30m/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(hidden_size=512, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8, head_dim=64,
         intermediate_size=1408, vocab_size=8192, max_position_embeddings=2048, tie_word_embeddings=True)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
load() { cut -d' ' -f1 /proc/loadavg; }
: > "$out/runs.jsonl"
echo "{\"load_before\": $(load)}" >> "$out/runs.jsonl"
peak=$(OMP_NUM_THREADS="$threads" "$peak_bin" --benchmark_filter=BM_PeakFp32Fma --benchmark_format=json 2>/dev/null |
  python3 -c 'import json,sys; b=json.load(sys.stdin)["benchmarks"][0]; print(b["GFLOP/s"])')
echo "{\"peak_gflops\": $peak, \"peak_threads\": $threads}" >> "$out/runs.jsonl"
for shape in $shapes; do
  dir="$out/llama30m"
  [[ "$shape" == stories260K ]] && dir="$shared"
  for quant in $quants; do
    for ((r = 0; r < rounds; r++)); do
      for policy in $policies; do
        for kernels in fast reference; do
          echo "cpu_throughput: $shape $quant $kernels, OpenMP wait policy $policy (round $((r + 1)))" >&2
          line=$(OMP_WAIT_POLICY="$policy" "$bin" --model "$dir" --device cpu --dtype float32 --quant "$quant" \
            --kernels "$kernels" --data "$root/data/stories-tools/train.jsonl" --tokenizer "$shared" --batch "$batch" \
            --seq "$seq" --steps "$steps" --warmup "$warmup" --threads "$threads" 2>/dev/null)
          python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["shape"]=sys.argv[2]; d["omp_wait_policy"]=sys.argv[3]; print(json.dumps(d))' \
            "$line" "$shape" "$policy" >> "$out/runs.jsonl"
        done
      done
    done
  done
done
echo "{\"load_after\": $(load)}" >> "$out/runs.jsonl"
if [[ -n "$splice" ]]; then
  python3 "$here/cpu_throughput_table.py" "$out/runs.jsonl" --splice "$splice" --command "bash bench/cpu_throughput.sh $args"
else
  python3 "$here/cpu_throughput_table.py" "$out/runs.jsonl"
fi
