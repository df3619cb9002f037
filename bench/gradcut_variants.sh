#!/usr/bin/env bash
# Where GradCut's held-out loss and time go: trains one recipe under several adapter placements,
# each in its own process, and prints one summary line per run (bench/step_summary.py).
#
#   bench/gradcut_variants.sh RECIPE OUT_DIR "name: --set k=v --set k=v" ["name: ..."]...
#
# Every variant gets --set output.dir=OUT_DIR/name --set output.export_peft=false after its own
# settings. Example (the top 13 of 24 layers with plain LoRA, against GradCut keeping half):
#
#   bench/gradcut_variants.sh recipe.yaml runs/v \
#     "list-top13: --set adapters.policy=list --set adapters.list=[layers.11.*,layers.12.*,...]" \
#     "gradcut-half: --set adapters.policy=gradcut --set adapters.gradcut.keep_attention=0.5 --set adapters.gradcut.keep_mlp=0.5"
set -euo pipefail
cd "$(dirname "$0")/.."
ET=${EDGETUNE:-build/edgetune}
recipe=${1:?usage: bench/gradcut_variants.sh RECIPE OUT_DIR \"name: --set k=v ...\"...}
out=${2:?usage: bench/gradcut_variants.sh RECIPE OUT_DIR \"name: --set k=v ...\"...}
shift 2
mkdir -p "$out"
dirs=()
for v in "$@"; do
  name=${v%%:*}
  read -r -a sets <<< "${v#*:}"
  echo "== $name: ${sets[*]}" >&2
  "$ET" train "$recipe" "${sets[@]}" --set output.dir="$out/$name" --set output.export_peft=false \
    > "$out/$name.json" 2> "$out/$name.log" || { echo "$name failed:"; tail -5 "$out/$name.log"; continue; }
  dirs+=("$out/$name")
done
python3 bench/step_summary.py "${dirs[@]}"
