#!/usr/bin/env bash
# A trained flow's samples at several sampling temperatures, each evaluated beside the baselines in the flow's space
# (`weightflow eval --baselines`: zoo mean, fitted Gaussian, held-out checkpoints of the same call).
#
#   FLOW=results/uci-flows/seed0/euclidean-rt-independent/flow.safetensors ZOO=results/run/zoo-uci-aligned.safetensors \
#     TAUS="1 0.8 0.6" scripts/uci-temperature.sh
#
# Environment: FLOW, ZOO (the aligned zoo the flow was trained on), TAUS (1 0.9 0.8 0.7 0.6), COUNT (256), STEPS
# (100), SEED (0), OUT (beside the flow: DIR/tau/). Prints one line per temperature with the issue-11 figures.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TAUS:=1 0.9 0.8 0.7 0.6}" "${COUNT:=256}" "${STEPS:=100}" "${SEED:=0}"
: "${OUT:=$(dirname "$FLOW")/tau}"
export WEIGHTFLOW_THREADS="${WEIGHTFLOW_THREADS:-1}"
: "${W:=src/WeightFlow.Cli/bin/Release/net10.0/weightflow}"
mkdir -p "$OUT"
for tau in $TAUS; do
    "$W" sample --flow "$FLOW" --count "$COUNT" --steps "$STEPS" --seed "$SEED" --temperature "$tau" \
        --out "$OUT/samples-$tau.safetensors" --json > "$OUT/sample-$tau.json"
    "$W" eval --weights "$OUT/samples-$tau.safetensors" --task uci --zoo "$ZOO" --count "$COUNT" --baselines --seed "$SEED" \
        --json > "$OUT/eval-$tau.json"
    python3 - "$OUT/eval-$tau.json" "$tau" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1])); by = {r["Name"]: r for r in ev["rows"]}
s = ev["rows"][0]; g, h = by["fitted Gaussian"], by["held-out"]
print(f"tau {sys.argv[2]:>4} acc {s['AccuracyMean']:.4f} (min {s['AccuracyMin']:.4f}, held-out min {h['AccuracyMin']:.4f}) "
      f"CEcal {s['CalibratedCrossEntropy']:.4f} gauss {g['CalibratedCrossEntropy']:.4f} held {h['CalibratedCrossEntropy']:.4f} "
      f"div {s['Diversity'] / h['Diversity']:.2f}x novelty {s['NoveltyRatio']:.3f} mmd2 {s['Fidelity']:.4f} (floor {s['FidelityFloor']:.4f})", flush=True)
PY
done
