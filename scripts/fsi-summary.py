#!/usr/bin/env python3
"""Tabulates results/fsi/*.log of scripts/fsi-ab.sh (docs/results/fsi.md): one row per run, then per round the
steady-state ratios fsi / CLI (CLI steady = (run at 300) - (run at 50), in-loop, / 250)."""
import glob, json, re, sys, os

def parse(path):
    t = open(path).read()
    r = {"label": os.path.basename(path)[:-4]}
    m = re.search(r"arm (\S+) n (\d+) start \S+ loadavg (\S+) (\S+) (\S+)", t)
    r["arm"], r["n"], r["load1"], r["load5"] = m.group(1), int(m.group(2)), float(m.group(3)), float(m.group(4))
    m = re.search(r"^env (.*)$", t, re.M)
    r["env"] = " ".join(x for x in m.group(1).split() if x.split("=")[0] in
                        ("DOTNET_gcServer", "DOTNET_gcConcurrent", "DOTNET_TieredCompilation", "DOTNET_TieredPGO",
                         "DOTNET_ReadyToRun", "DOTNET_GCgen0size", "DOTNET_GCHeapCount", "TRIMS"))
    g = lambda pat, f=float: (lambda m: f(m.group(1)) if m else None)(re.search(pat, t))
    r["user"], r["sys"] = g(r"User time \(seconds\): (\S+)"), g(r"System time \(seconds\): (\S+)")
    r["rss_mb"] = g(r"Maximum resident set size \(kbytes\): (\d+)") / 1024 if g(r"Maximum resident set size \(kbytes\): (\d+)") else None
    el = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", t)
    if el:
        parts = [float(x) for x in el.group(1).split(":")]
        r["elapsed"] = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    r["minor"] = g(r"Minor \(reclaiming a frame\) page faults: (\d+)", int)
    m = re.search(r"^\s+(\d+)\s+probe_libc:malloc_trim", t, re.M)
    r["trims"] = int(m.group(1)) if m else None
    m = re.search(r"serverGC (\S+) .*latency (\S+)", t)
    r["gc"] = f"server {m.group(1)}, {m.group(2)}" if m else "workstation, non-concurrent (runtimeconfig)"
    if r["arm"] == "cli":
        r["loss"] = g(r'"final_loss": (\S+),'); r["loop_s"] = g(r'"seconds": (\S+),'); r["loop_cpu"] = g(r'"cpu_seconds": (\S+),')
        r["threads"] = g(r'"threads": (\d+)', int)
    else:
        r["loss"] = g(r"final_loss (\S+)"); r["loop_s"] = g(r"loop_seconds (\S+)"); r["loop_cpu"] = g(r"loop_cpu (\S+)")
        r["steady_wall"] = g(r"steady_wall_per_step (\S+)"); r["steady_cpu"] = g(r"steady_cpu_per_step (\S+)")
        r["threads"] = g(r"threads (\d+) interop", int)
        r["host"] = (re.search(r"^host\t(.*)$", t, re.M) or [None, ""])[1]
    return r

runs = [parse(p) for p in sorted(glob.glob("results/fsi/*.log"), key=os.path.getmtime) if "smoke" not in p]
print("| run | arm | N | env | load1 start | threads | final loss | loop s | loop CPU s | steady wall/step | steady CPU/step | process user+sys | elapsed | peak RSS MB | GC | minor faults | malloc_trim calls |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in runs:
    f = lambda k, fmt: (fmt % r[k]) if r.get(k) is not None else ""
    cs = (r["user"] or 0) + (r["sys"] or 0)
    print(f"| {r['label']} | {r['arm']} | {r['n']} | {r['env']} | {r['load1']} | {f('threads','%d')} | {f('loss','%.17g')} | {f('loop_s','%.2f')} | {f('loop_cpu','%.2f')} | {f('steady_wall','%.4f')} | {f('steady_cpu','%.4f')} | {cs:.2f} | {f('elapsed','%.1f')} | {f('rss_mb','%.0f')} | {r['gc']} | {f('minor','%d')} | {f('trims','%d')} |")
total = sum((r["user"] or 0) + (r["sys"] or 0) for r in runs)
print(f"\nCPU s of all runs (user + sys): {total:.1f}")
rounds = sorted({r["label"].split("-")[0] for r in runs})
print("\n| round | CLI steady wall/step | CLI steady CPU/step | arm | steady wall/step | steady CPU/step | wall ratio | CPU ratio |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | ")
for rd in rounds:
    rr = [r for r in runs if r["label"].split("-")[0] == rd]
    c300 = [r for r in rr if r["arm"] == "cli" and r["n"] == 300]
    c50 = [r for r in rr if r["arm"] == "cli" and r["n"] == 50]
    if not (c300 and c50): continue
    cw = (c300[0]["loop_s"] - c50[0]["loop_s"]) / 250; cc = (c300[0]["loop_cpu"] - c50[0]["loop_cpu"]) / 250
    for r in rr:
        if r["arm"] != "cli" and r.get("steady_cpu") is not None:
            print(f"| {rd} | {cw:.4f} | {cc:.4f} | {r['label']} | {r['steady_wall']:.4f} | {r['steady_cpu']:.4f} | {r['steady_wall']/cw:.3f} | {r['steady_cpu']/cc:.3f} |")
