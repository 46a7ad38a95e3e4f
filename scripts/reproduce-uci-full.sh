#!/usr/bin/env bash
# `weightflow reproduce uci --preset full` as measured for the README (Table 7.1, Figs. 7.2-7.3): one intra-op thread
# per flow (two threads cost the small UCI flows 5-6x the CPU on a shared machine, README "UCI flows against
# baselines"), two flows at a time (each flow's CPU seconds are its own thread's: `train.cpu_scope`), with
# /usr/bin/time -v (CPU seconds = user + sys, peak RSS). Every flow is its own cached stage, so a stopped run resumes
# where it stopped. ROWS: comma-separated row ids (`weightflow reproduce --help`); default the thesis' nine rows (the
# README's run); "all" adds the symmetry-aware rows and the MLP row. NICE: the process's nice (default 5; on a machine
# shared between sessions the scheduler's autogroups, not nice, decide the share between sessions).
#   scripts/reproduce-uci-full.sh [OUT (default results/reproduce-uci)] [ROWS] > LOG 2>&1
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results/reproduce-uci}"
nine=euclidean,euclidean-aligned,euclidean-aligned-ot,normalized,normalized-aligned,normalized-aligned-ot,geometric,geometric-aligned,geometric-aligned-ot
rows=(--rows "${2:-$nine}")
if [ "${2:-}" = all ]; then rows=(); fi
dotnet build src/WeightFlow.Cli -c Release -o "${WEIGHTFLOW_BIN:-bin/reproduce}" >/dev/null
date -u +"start %FT%TZ"
WEIGHTFLOW_THREADS=1 nice -n "${NICE:-5}" /usr/bin/time -v "${WEIGHTFLOW_BIN:-bin/reproduce}/weightflow" reproduce uci --preset full --out "$out" "${rows[@]}"
date -u +"end %FT%TZ"
uptime
