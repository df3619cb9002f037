#!/usr/bin/env bash
# ReTune on a sequence of base releases, the Mood Journal benchmark: one user's patch (LoRA on
# the personal suite of data/make_mood_journal.py, bench/retune_mood.yaml) is trained on release 1
# of the demo base (data/make_releases.py), then carried through every later release by three
# policies:
#   Always  retrain on every release, from scratch (a fresh LoRA, the recipe's full budget);
#   Never   the release-1 patch forced onto every release (edgetune eval --force);
#   ReTune  edgetune retune --patch CUR --base-old PREV --base-new NEW --apply: reuse writes the
#           patch re-fingerprinted for NEW, retune retrains it warm-started from CUR on the recipe's
#           budget (train.max_steps); the patch written becomes CUR for the next release.
# Per release and policy: the decision, training seconds, held-out loss and approval (edgetune
# eval's tool_call_exact_match on the personal eval split). Writes OUT/table.md, OUT/summary.md,
# OUT/results.json and OUT/retune_releases.png (OUT: data/cache/retune-releases[-quick]);
# --splice also puts them into bench/RESULTS.md (and the plot into bench/retune_releases.png).
#
#   bash bench/retune_releases.sh [--quick] [--splice] [--kappa K] [--k K] [--report-only]
#       [--parallel] [--releases DIR]
#
# --quick: 6 releases at a tenth of their steps, a 12-step patch and the first 40 held-out entries
# (a smoke run). --report-only: no runs, the report of what is done (an interrupted run's
# releases so far). --parallel: Always and Never run beside ReTune (three processes; faster on a
# shared machine, but the training seconds then include the contention). --releases DIR: the
# policies on a release sequence already made by data/make_releases.py (DIR/release-NN/run/model,
# DIR/releases.jsonl; its first 6 or 12 releases), without making the demo base or releases. Everything made
# is cached under data/cache/ (demo base, releases, Mood Journal files, every patch and eval) and
# reused when the command runs again; a change of the releases, the recipe, the data or the
# options starts the policies' runs over. EDGETUNE=path picks the binary (default build/edgetune,
# built when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
args="$*"
quick=0 splice=0 report_only=0 parallel=0 given="" kappa=0.5 k=0.25
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1; shift ;;
    --splice) splice=1; shift ;;
    --report-only) report_only=1; shift ;;
    --parallel) parallel=1; shift ;;
    --releases) given=$2; shift 2 ;;
    --kappa) kappa=$2; shift 2 ;;
    --k) k=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "retune_releases: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
start=$(date +%s)
say() { printf '\n== %s\n' "$*" >&2; }
ET=${EDGETUNE:-build/edgetune}
if [ ! -x "$ET" ]; then
  say "build"
  EDGETUNE_TARGET=edgetune bash scripts/build.sh
fi
if [ $quick = 1 ]; then
  rel=data/cache/releases-quick nrel=6 scale=0.1 psteps=12 elimit=40 W=data/cache/retune-releases-quick
else
  rel=data/cache/releases nrel=12 scale=1 psteps=60 elimit=0 W=data/cache/retune-releases
fi
if [ -n "$given" ]; then
  [ -s "$given/releases.jsonl" ] || { echo "retune_releases: $given/releases.jsonl: no such release list" >&2; exit 2; }
  rel=${given%/} W=$W-$(basename "$rel")
  [ "$(wc -l < "$rel/releases.jsonl")" -lt $nrel ] && nrel=$(wc -l < "$rel/releases.jsonl")
fi
mood=data/cache/mood
recipe=bench/retune_mood.yaml

# fresh DIR STAMP: empties DIR when what made it (STAMP) changed; each stage below is kept otherwise.
fresh() {
  if [ "$(cat "$1/stamp" 2>/dev/null)" != "$2" ]; then rm -rf "$1"; fi
  mkdir -p "$1"
  echo "$2" > "$1/stamp"
}
hash() { sha256sum | cut -c1-16; }

if [ $report_only = 0 ]; then  # the runs
if [ -z "$given" ]; then
  say "demo base"
  bash data/make_demo_base.sh "$ET"
  say "releases: $nrel of them (data/make_releases.py --steps-scale $scale) in $rel"
  fresh "$rel" "$( (cat data/cache/demo/stamp data/make_releases.py data/make_mood_journal.py data/make_agent_data.py;
    echo "$scale") | hash)"
  python3 data/make_releases.py --base data/cache/demo/base-run/model --out "$rel" --releases $nrel \
    --steps-scale $scale --edgetune "$ET"
else
  say "releases: the first $nrel in $rel"
fi
model() { printf '%s/release-%02d/run/model' "$rel" "$1"; }
say "Mood Journal personal suite in $mood"
mood_args=(--suite personal --n-train 400 --n-eval 80 --seed 3)
fresh $mood "$( (cat data/make_mood_journal.py; echo "${mood_args[*]}") | hash)"
if [ ! -s $mood/mood_personal_eval.jsonl ]; then
  python3 data/make_mood_journal.py "${mood_args[@]}" --out $mood >&2
fi

# The policies' runs are kept while what shapes them is unchanged.
fresh "$W" "$( (head -n $nrel "$rel/releases.jsonl"; cat $recipe $mood/mood_personal_train.jsonl \
  $mood/mood_personal_eval.jsonl; echo "$kappa $k $psteps $elimit") | hash)"

# train MODEL DIR: a fresh patch on MODEL into DIR (DIR/patch.safetensors, DIR.train.json).
train() {
  [ -s "$2.train.json" ] && [ -f "$2/patch.safetensors" ] && return 0
  rm -rf "$2"
  "$ET" --log-level warn train $recipe --set model.path="$1" --set output.dir="$2" \
    --set train.max_steps=$psteps > "$2.train.json.tmp"
  mv "$2.train.json.tmp" "$2.train.json"
}
# evaluate MODEL PATCH OUT [--force]: approval and held-out loss of PATCH on MODEL.
evaluate() {
  [ -s "$3" ] && return 0
  "$ET" --log-level warn eval --model "$1" --patch "$2" --data $mood/mood_personal_eval.jsonl \
    --limit $elimit ${4:-} > "$3.tmp"
  mv "$3.tmp" "$3"
}

say "release 1: the user's patch (bench/retune_mood.yaml, $psteps steps)"
r1=$(model 1)
train "$r1" "$W/p1"
evaluate "$r1" "$W/p1/patch.safetensors" "$W/p1.eval.json"
# One release's step of each policy (release n > 1).
step_always() {
  local new d
  new=$(model $1) d=$(printf '%s/rel-%02d' "$W" $1)
  say "release $1: Always (a fresh patch)"
  train "$new" "$d/always"
  evaluate "$new" "$d/always/patch.safetensors" "$d/always.eval.json"
}
step_never() {
  say "release $1: Never (the release-1 patch forced)"
  evaluate "$(model $1)" "$W/p1/patch.safetensors" "$(printf '%s/rel-%02d' "$W" $1)/never.eval.json" --force
}
step_retune() {  # the patch ReTune carries: release 1's, then what the previous step wrote
  local new prev d cur t0
  new=$(model $1) prev=$(model $(($1 - 1))) d=$(printf '%s/rel-%02d' "$W" $1)
  cur=$(printf '%s/rel-%02d/retune/patch.safetensors' "$W" $(($1 - 1)))
  [ $1 = 2 ] && cur=$W/p1/patch.safetensors
  say "release $1: ReTune"
  if [ ! -s "$d/retune.json" ] || [ ! -f "$d/retune/patch.safetensors" ]; then
    rm -rf "$d/retune"
    mkdir -p "$d/retune"
    t0=$(date +%s.%N)
    "$ET" --log-level info retune --patch "$cur" --base-old "$prev" --base-new "$new" --kappa $kappa --k $k \
      --apply -o "$d/retune/patch.safetensors" --json "$d/retune.json.tmp" > "$d/retune.report.txt"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }' > "$d/retune.wall"
    mv "$d/retune.json.tmp" "$d/retune.json"
  fi
  grep -m1 '^decision' "$d/retune.report.txt" >&2 || true
  evaluate "$new" "$d/retune/patch.safetensors" "$d/retune.eval.json"
}
for n in $(seq 2 $nrel); do mkdir -p "$(printf '%s/rel-%02d' "$W" $n)"; done
if [ $parallel = 1 ]; then  # Always and Never beside ReTune: three processes at once
  (for n in $(seq 2 $nrel); do step_always $n; done) &
  pa=$!
  (for n in $(seq 2 $nrel); do step_never $n; done) &
  pn=$!
  for n in $(seq 2 $nrel); do step_retune $n; done
  wait $pa
  wait $pn
else
  for n in $(seq 2 $nrel); do step_always $n; step_never $n; step_retune $n; done
fi
fi

say "table and plot"
# The plot wants matplotlib: the first python3 on PATH that has it (Debian's python3-matplotlib
# lives in /usr/bin/python3), installed with apt when none has it and we may; else the report's
# own small plotter.
has_mpl() { "$1" -c 'import matplotlib' 2>/dev/null; }
py=python3
if ! has_mpl python3; then
  if ! has_mpl /usr/bin/python3 && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq python3-matplotlib >/dev/null 2>&1 || true
  fi
  has_mpl /usr/bin/python3 && py=/usr/bin/python3
fi
args=$(echo " $args " | sed 's/ --report-only / /; s/^ *//; s/ *$//')  # the command that makes it
command="bash bench/retune_releases.sh${args:+ $args}"
report=("$py" bench/retune_releases_report.py --work "$W" --releases "$rel/releases.jsonl" --n $nrel
  --kappa $kappa --k $k --patch-steps $psteps --command "$command")
label=()
[ $quick = 1 ] && label+=("quick run")
[ $parallel = 1 ] && label+=("Always and Never ran beside ReTune (--parallel)")
[ ${#label[@]} -gt 0 ] && report+=(--label "$(IFS=';'; echo "${label[*]}" | sed 's/;/; /g')")
[ $splice = 1 ] && report+=(--splice bench/RESULTS.md --png-copy bench/retune_releases.png)
"${report[@]}"
cat "$W/table.md" "$W/summary.md"
echo "retune_releases took $(( $(date +%s) - start ))s (outputs in $W)"
