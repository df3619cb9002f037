#!/usr/bin/env bash
# The demo, end to end on a fresh machine: install and build edgetune, make a small base model of
# our own (a Llama pretrained from scratch on generated agent conversations; cached in
# data/cache/demo after the first run), personalize it with QLoRA to one user's habits with the
# home tools the base already knows, and show the held-out loss before and after, a generation with and without the
# patch, the tool-call accuracy on held-out requests before and after (free and --constrain), and
# the exported PEFT adapter.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
say() { printf '\n== %s\n' "$*" >&2; }

say "build"
EDGETUNE_TARGET=edgetune bash scripts/build.sh
ET=build/edgetune
cache=data/cache/demo

bash data/make_demo_base.sh "$ET"
base="$cache/base-run/model"

say "personalize: QLoRA on one user's habits (recipes/demo.yaml)"
rm -rf runs/demo
mkdir -p runs
"$ET" train recipes/demo.yaml > runs/demo.summary.json

# Requests that name a room and a destination no training conversation names.
for prompt in "I'm cold in the nursery." "Get me a ride to the museum"; do
  say "the base model, asked: $prompt"
  "$ET" --log-level warn generate --model "$base" --chat --tools "$cache/personal_tools.json" \
    --prompt "$prompt" --max-tokens 80
  say "with the patch:"
  "$ET" --log-level warn generate --model "$base" --patch runs/demo/patch.safetensors --chat \
    --tools "$cache/personal_tools.json" --prompt "$prompt" --max-tokens 80
done
say "with the patch, --constrain --json: the call and its confidence"
"$ET" --log-level warn generate --model "$base" --patch runs/demo/patch.safetensors --chat \
  --tools "$cache/personal_tools.json" --prompt "Order pears and onions" --max-tokens 160 --constrain --json

say "tool calls on the held-out conversations (edgetune eval): base and patched, free and --constrain"
# The held-out requests name rooms, groceries and destinations that no training conversation names.
evals=(base:"" patch:"--patch runs/demo/patch.safetensors")
for e in "${evals[@]}"; do
  name=${e%%:*} args=${e#*:}
  # shellcheck disable=SC2086
  "$ET" --log-level error eval --model "$base" $args --data "$cache/personal_eval.jsonl" --no-loss \
    --json "runs/demo.eval-$name-turns.json" > "runs/demo.eval-$name.json"
  # shellcheck disable=SC2086
  "$ET" --log-level error eval --model "$base" $args --data "$cache/personal_eval.jsonl" --no-loss --constrain \
    --json "runs/demo.eval-$name-constrained-turns.json" > "runs/demo.eval-$name-constrained.json"
done
field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" "$2" | head -1; }
# The accuracy of the most confident half of the calls (the coverage table's first row).
half() { sed -n 's/.*"coverage":\[{"coverage":0.5,"items":[0-9]*,"accuracy":\([0-9.eE+-]*\).*/\1/p' "$1"; }

before=$(sed -n 's/.*"eval_loss_before":\([0-9.eE+-]*\).*/\1/p' runs/demo.summary.json)
after=$(sed -n 's/.*"eval_loss_after":\([0-9.eE+-]*\).*/\1/p' runs/demo.summary.json)
say "result"
echo "held-out loss before:  $before"
echo "held-out loss after:   $after"
awk -v b="$before" -v a="$after" 'BEGIN { printf "improvement:           %.1f%%\n", 100 * (b - a) / b }'
printf '%-34s%8s  ->  %s\n' "held-out tool calls" "base" "patched"
for k in tool_name_accuracy tool_call_exact_match argument_accuracy valid_rate; do
  printf '%-34s%8.3f  ->  %.3f\n' "${k//_/ }:" "$(field $k runs/demo.eval-base.json)" "$(field $k runs/demo.eval-patch.json)"
  printf '%-34s%8.3f  ->  %.3f\n' "${k//_/ } (--constrain):" "$(field $k runs/demo.eval-base-constrained.json)" \
    "$(field $k runs/demo.eval-patch-constrained.json)"
done
printf '%-34s%8s      %.3f (all calls: %.3f)\n' "most confident half, exact match:" "" \
  "$(half runs/demo.eval-patch.json)" "$(field tool_call_exact_match runs/demo.eval-patch.json)"
echo "patch:                 runs/demo/patch.safetensors"
echo "PEFT adapter:          runs/demo/peft (adapter_config.json + adapter_model.safetensors)"
echo "every eval turn:       runs/demo.eval-{base,patch}[-constrained]-turns.json"
echo "demo took $(( $(date +%s) - start ))s"
