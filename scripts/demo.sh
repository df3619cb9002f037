#!/usr/bin/env bash
# The demo, end to end on a fresh machine: install and build edgetune, make a small base model of
# our own (a Llama pretrained from scratch on generated agent conversations; cached in
# data/cache/demo after the first run), personalize it with QLoRA to one user's habits with the
# home tools the base already knows, and show the held-out loss before and after, a generation with and without the
# patch, and the exported PEFT adapter.
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
summary=$(cat runs/demo.summary.json)

for prompt in "I'm cold in the bedroom." "Get me a ride to the gym"; do
  say "the base model, asked: $prompt"
  "$ET" --log-level warn generate --model "$base" --chat --tools "$cache/personal_tools.json" \
    --prompt "$prompt" --max-tokens 80
  say "with the patch:"
  "$ET" --log-level warn generate --model "$base" --patch runs/demo/patch.safetensors --chat \
    --tools "$cache/personal_tools.json" --prompt "$prompt" --max-tokens 80
done

say "tool calls on the held-out conversations (edgetune eval), without and with the patch"
"$ET" eval --model "$base" --data "$cache/personal_eval.jsonl" --no-loss > runs/demo.eval-base.json
"$ET" eval --model "$base" --patch runs/demo/patch.safetensors --data "$cache/personal_eval.jsonl" --no-loss \
  --json runs/demo.eval-turns.json > runs/demo.eval-patch.json
field() { sed -n "s/.*\"$1\":\([0-9.eE+-]*\).*/\1/p" "$2"; }

before=$(printf '%s' "$summary" | sed -n 's/.*"eval_loss_before":\([0-9.eE+-]*\).*/\1/p')
after=$(printf '%s' "$summary" | sed -n 's/.*"eval_loss_after":\([0-9.eE+-]*\).*/\1/p')
say "result"
echo "held-out loss before:  $before"
echo "held-out loss after:   $after"
awk -v b="$before" -v a="$after" 'BEGIN { printf "improvement:           %.1f%%\n", 100 * (b - a) / b }'
for k in tool_name_accuracy tool_call_exact_match argument_accuracy; do
  printf '%-23s%.3f -> %.3f\n' "${k//_/ }:" "$(field $k runs/demo.eval-base.json)" "$(field $k runs/demo.eval-patch.json)"
done
echo "patch:                 runs/demo/patch.safetensors"
echo "PEFT adapter:          runs/demo/peft (adapter_config.json + adapter_model.safetensors)"
echo "every eval turn:       runs/demo.eval-turns.json"
echo "demo took $(( $(date +%s) - start ))s"
