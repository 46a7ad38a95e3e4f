#!/usr/bin/env bash
# One timed run of docs/results/fsi.md: ARM (cli | fsi1 | fsiasis) at N iterations, logged to results/fsi/LABEL.log
# with /proc/loadavg before and after and /usr/bin/time -v. Extra environment (DOTNET_* switches) is passed through.
#   scripts/fsi-ab.sh LABEL ARM N
set -u
label=$1; arm=$2; n=$3
dir=results/fsi; zoo=$dir/zoo-uci-aligned.safetensors; out=$dir/$label.safetensors; log=$dir/$label.log
dll=src/WeightFlow.Cli/bin/Release/net10.0/weightflow.dll
rm -f "$out" "$out.checkpoint"
{ echo "label $label arm $arm n $n start $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)"
  echo "env $(env | grep -E '^(DOTNET_|WEIGHTFLOW_|GOMP|OMP)' | tr '\n' ' ')"; } > "$log"
# TRIMS=1 counts glibc malloc_trim calls (the heap guard's trims, src/Process/Heap.fs) with a perf uprobe, created
# once with `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc_trim`.
pre=(); if [ "${TRIMS:-0}" = 1 ]; then pre=(perf stat -e probe_libc:malloc_trim --); fi
case $arm in
  cli) WEIGHTFLOW_THREADS=1 /usr/bin/time -v "${pre[@]}" dotnet "$dll" train --zoo "$zoo" --flow euclidean --model rt \
         --iterations "$n" --seed 0 --json --out "$out" >> "$log" 2>&1 ;;
  fsi1) WEIGHTFLOW_THREADS=1 /usr/bin/time -v "${pre[@]}" dotnet fsi scripts/fsi-step-time.fsx "$zoo" "$n" "$out" 1 >> "$log" 2>&1 ;;
  fsiasis) WEIGHTFLOW_THREADS=1 /usr/bin/time -v "${pre[@]}" dotnet fsi scripts/fsi-step-time.fsx "$zoo" "$n" "$out" asis >> "$log" 2>&1 ;;
esac
echo "end $(date -u +%FT%TZ) loadavg $(cat /proc/loadavg)" >> "$log"
rm -f "$out"
