#!/usr/bin/env bash
# Issue 11/12's UCI bars across seeds and sampling temperatures, judged as the main job judges them: `weightflow run`
# per seed (zoo, alignment, the four flows, samples, evaluation beside the baselines), then the same job again at each
# further temperature (the flows are reused; only sampling and evaluation rerun). One JSON per (seed, tau); then
# scripts/uci-seeds-table.py prints the bars per flow.
#
#   scripts/uci-seeds.sh                                   # seeds 0 1 2, 256 samples, tau 1
#   SEEDS="0" TAUS="1 0.8 0.6" scripts/uci-seeds.sh
#
# Environment: SEEDS, TAUS (the first one trains), SAMPLES (256), OUT (results/uci-seeds), EXTRA (more `run` options).
# WEIGHTFLOW_THREADS defaults to 1 so that CPU seconds are one core's work.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${SEEDS:=0 1 2}" "${TAUS:=1}" "${SAMPLES:=256}" "${OUT:=results/uci-seeds}" "${EXTRA:=}"
export WEIGHTFLOW_THREADS="${WEIGHTFLOW_THREADS:-1}"
: "${W:=src/WeightFlow.Cli/bin/Release/net10.0/weightflow}"
[ -x "$W" ] || dotnet build src/WeightFlow.Cli -c Release -v q
for seed in $SEEDS; do
    d="$OUT/seed$seed"; mkdir -p "$d"
    for tau in $TAUS; do
        echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)" > "$d/tau$tau.load"
        /usr/bin/time -f 'wall_s=%e user_s=%U sys_s=%S maxrss_kb=%M' -o "$d/tau$tau.time" \
            "$W" run --seed "$seed" --samples "$SAMPLES" --temperature "$tau" --out "$d/job" $EXTRA --json > "$d/tau$tau.json"
        echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$d/tau$tau.load"
        echo "$(date -u +%T) seed $seed tau $tau: $(cat "$d/tau$tau.time")" >&2
    done
done
