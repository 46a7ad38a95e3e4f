#!/usr/bin/env bash
# Issue 11's coupling table with the main job's UCI defaults: the Geometric RT flow of `MainJobConfig.uci` (the CPU
# preset, the prior fitted to its canonical targets, its own τ 1.1 from `MainJobConfig.uciFlow`, 256 samples, Euler
# 100) with each of the four couplings (symmetry: the default; independent, ot, symmetry+ot), trained one at a time on
# one thread, judged beside the three baselines of the same run in canonical space (scripts/uci-main-flows.fsx);
# table.md lists the bars missed, the thread-clocked training CPU seconds and the training loss per t bucket (five
# buckets) beside the loss of predicting the zoo mean on the same pairs.
#
#   scripts/uci-couplings.sh                   # seed 0: job folder /tmp/uci-couplings-seed0, table docs/uci-couplings/seed0
#   SEED=1 scripts/uci-couplings.sh            # another seed
# Environment: SEED (0), WORK (the main job's folder; its zoo and flows are reused by a second call), DOCS (where
# table.md, results.csv and flows.json go). WEIGHTFLOW_THREADS defaults to 1 (CPU seconds = one core's work).
# (scripts/uci-flows.sh is the older table of `weightflow train`/`sample`/`eval`: the CLI preset from N(0, 0.1² I),
# τ 1, 64 samples, not the main job's settings.)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SEED:=0}"
: "${WORK:=/tmp/uci-couplings-seed$SEED}" "${DOCS:=docs/uci-couplings/seed$SEED}"
export WEIGHTFLOW_THREADS="${WEIGHTFLOW_THREADS:-1}"
[ -f src/WeightFlow.Cli/bin/Release/net10.0/WeightFlow.Core.dll ] || dotnet build src/WeightFlow.Cli -c Release -v q
mkdir -p "$WORK" "$DOCS"
/usr/bin/time -v -o "$WORK/run.time" dotnet fsi scripts/uci-main-flows.fsx "$SEED" "$WORK" \
    Geometric "Geometric:coupling=independent" "Geometric:coupling=ot" "Geometric:coupling=symmetry+ot" > "$WORK/flows.json"
cp "$WORK/flows.json" "$DOCS/flows.json"
python3 scripts/uci-main-flows-table.py "$WORK/flows.json" "$DOCS" "$WORK/run.time"
