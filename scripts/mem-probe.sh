#!/usr/bin/env bash
# Runs a command under /usr/bin/time -v and samples its RSS every 0.5 s from /proc/PID/status (VmRSS, VmHWM).
#   scripts/mem-probe.sh LOGPREFIX command args...
# Writes LOGPREFIX.out (the command's output, each line prefixed with the UTC time), LOGPREFIX.rss (utc, VmRSS kB,
# VmHWM kB) and LOGPREFIX.time (/usr/bin/time -v).
set -u
prefix=$1; shift
/usr/bin/time -v -o "$prefix.time" "$@" > >(while IFS= read -r l; do printf '%s %s\n' "$(date -u +%H:%M:%S.%N | cut -c1-12)" "$l"; done > "$prefix.out") 2>&1 &
tpid=$!

sleep 1; pid=$(pgrep -n -x dotnet)
echo "utc vmrss_kb vmhwm_kb" > "$prefix.rss"
while kill -0 "$tpid" 2>/dev/null; do
  if [ -r "/proc/$pid/status" ]; then
    awk -v t="$(date -u +%H:%M:%S.%N | cut -c1-12)" '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print t, r, h}' "/proc/$pid/status" >> "$prefix.rss"
  fi
  sleep 0.5
done
wait "$tpid"
