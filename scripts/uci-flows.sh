#!/usr/bin/env bash
# Issue 11's acceptance table on the aligned UCI zoo: train each flow with the CPU preset, sample 64 networks, and
# evaluate them beside the three baselines (zoo mean, fitted diagonal Gaussian, held-out checkpoints) computed in the
# same `weightflow eval` call and in the flow's space (the samples file records it: raw for Euclidean, canonical for
# Normalized/Geometric). Then scripts/uci-flows-table.py writes results.csv and table.md from the JSON files.
# These are `weightflow train`'s settings (the CPU preset from N(0, 0.1² I), τ 1, 64 samples), not the main job's: for
# flows as the UCI main job trains and samples them (fitted canonical prior, per-flow τ, 256 samples) use
# scripts/uci-main-flows.fsx (scripts/uci-couplings.sh does, for the coupling table).
#
#   scripts/uci-flows.sh                       # all flows below, seed 0, into results/uci-flows/seed0
#   SEED=1 JOBS=2 scripts/uci-flows.sh         # a second seed (training, sampling and eval subsets), 2 at a time
#   FLOWS="geometric:rt:ot" EXTRA="--iterations 2000" TAG=it2000 scripts/uci-flows.sh
#
# Environment: FLOWS (flow:model:coupling list), SEED (0), STEPS (Euler steps, 100), COUNT (64), JOBS (flows trained
# at once, 1), EXTRA (more `weightflow train` options), TAG (folder suffix), ZOO (the aligned zoo; made by
# `weightflow run` when missing). WEIGHTFLOW_THREADS defaults to 1 so that CPU seconds are one core's work.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FLOWS:=geometric:rt:independent geometric:rt:ot geometric:rt:symmetry geometric:rt:symmetry+ot euclidean:rt:independent normalized:rt:independent euclidean:mlp:independent normalized:mlp:independent geometric:mlp:independent}"
: "${SEED:=0}" "${STEPS:=100}" "${COUNT:=64}" "${JOBS:=1}" "${EXTRA:=}" "${TAG:=}"
: "${ZOO:=results/run/zoo-uci-aligned.safetensors}"
export WEIGHTFLOW_THREADS="${WEIGHTFLOW_THREADS:-1}"
: "${W:=src/WeightFlow.Cli/bin/Release/net10.0/weightflow}"
[ -x "$W" ] || dotnet build src/WeightFlow.Cli -c Release -v q
[ -f "$ZOO" ] || "$W" run
OUT="results/uci-flows/seed${SEED}${TAG:+-$TAG}"
mkdir -p "$OUT"
{ echo "date_utc=$(date -u +%FT%TZ)"; echo "host_cores=$(nproc)"; echo "commit=$(git rev-parse --short HEAD)$(git diff --quiet || echo +dirty)"
  echo "seed=$SEED steps=$STEPS count=$COUNT jobs=$JOBS threads=$WEIGHTFLOW_THREADS extra=$EXTRA zoo=$ZOO"; } > "$OUT/run.txt"

one() {  # flow:model:coupling
    set -euo pipefail
    IFS=: read -r flow model coupling <<< "$1"
    local name="$flow-$model-${coupling/+/-}" d="$OUT/$flow-$model-${coupling/+/-}"
    mkdir -p "$d"; rm -f "$d/flow.safetensors.checkpoint"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)" > "$d/load.txt"
    # wall and CPU seconds of the whole process (the train JSON has the training loop's own)
    /usr/bin/time -f 'wall_s=%e user_s=%U sys_s=%S maxrss_kb=%M' -o "$d/train.time" \
        "$W" train --zoo "$ZOO" --flow "$flow" --model "$model" --coupling "$coupling" --seed "$SEED" $EXTRA \
        --out "$d/flow.safetensors" --json > "$d/train.json"
    echo "load_after_train=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$d/load.txt"
    "$W" sample --flow "$d/flow.safetensors" --count "$COUNT" --steps "$STEPS" --seed "$SEED" \
        --out "$d/samples.safetensors" --json > "$d/sample.json"
    "$W" eval --weights "$d/samples.safetensors" --task uci --zoo "$ZOO" --count "$COUNT" --baselines --seed "$SEED" \
        --json > "$d/eval.json"
    echo "$(date -u +%T) done $name: $(cat "$d/train.time")" >&2
}
export -f one; export W ZOO SEED STEPS COUNT EXTRA OUT
printf '%s\n' $FLOWS | xargs -P "$JOBS" -I{} bash -c 'one "$@"' _ {}
python3 scripts/uci-flows-table.py "$OUT"
