#!/usr/bin/env bash
# `weightflow reproduce uci --preset full` as measured for the README (Table 7.1, Figs. 7.2-7.3): one intra-op thread
# (two threads cost the small UCI flows 5-6x the CPU on a shared machine, README "UCI flows against baselines"),
# niced, with /usr/bin/time -v (CPU seconds = user + sys, peak RSS). Every flow is its own cached stage, so a stopped
# run resumes where it stopped; to report the rows that finished, pass them as ROWS (comma-separated ids, see
# `weightflow reproduce --help`), e.g. euclidean,euclidean-aligned,euclidean-aligned-ot.
#   scripts/reproduce-uci-full.sh [OUT (default results/reproduce-uci)] [ROWS (default all)] > LOG 2>&1
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/reproduce-uci}"
rows=()
if [ -n "${2:-}" ]; then rows=(--rows "$2"); fi
dotnet build src/WeightFlow.Cli -c Release -o "${WEIGHTFLOW_BIN:-bin/reproduce}" >/dev/null
date -u +"start %FT%TZ"
WEIGHTFLOW_THREADS=1 nice -n 5 /usr/bin/time -v "${WEIGHTFLOW_BIN:-bin/reproduce}/weightflow" reproduce uci --preset full --out "$out" "${rows[@]}"
date -u +"end %FT%TZ"
uptime
