#!/usr/bin/env python3
"""table.md and results.csv from the JSON scripts/uci-main-flows.fsx prints (main-job flows and the three baselines
of the same run, per space), with issue 11's bars per flow: calibrated CE below the tau = 1 fitted Gaussian's and
within 1.5x the held-out checkpoints', minimum accuracy >= 0.93 (beside the held-out checkpoints' own minimum),
diversity 0.5-2x held-out, novelty >= 0.5, training <= 240 CPU s (thread-clocked).
Usage: scripts/uci-main-flows-table.py FLOWS.json OUTDIR [TIME_FILE]   (TIME_FILE: /usr/bin/time -v of the run)"""
import csv, json, os, re, sys

def opt(v):
    if isinstance(v, dict) and "Fields" in v:  # an F# option serialized as a union
        return v["Fields"][0] if v["Fields"] else None
    return v

src, out = sys.argv[1], sys.argv[2]
job = json.load(open(src))
os.makedirs(out, exist_ok=True)
per = {f["name"]: f for f in job["flows"]}
rows, base_lines = [], []
for t in job["tables"]:
    by = {b["Name"]: b for b in t["baselines"]}
    g, h = by["fitted Gaussian"], by["held-out"]
    hdiv = opt(h["Diversity"])
    for s in t["flows"]:
        f = per[s["Name"]]
        div = opt(s["Diversity"]) / hdiv
        bars = {"CE<Gaussian": s["CalibratedCrossEntropy"] < g["CalibratedCrossEntropy"],
                "CE<=1.5x held-out": s["CalibratedCrossEntropy"] <= 1.5 * h["CalibratedCrossEntropy"],
                "min acc>=0.93": s["AccuracyMin"] >= 0.93,
                "diversity 0.5-2x": 0.5 <= div <= 2.0,
                "novelty>=0.5": opt(s["NoveltyRatio"]) >= 0.5,
                "train<=240 CPU s": (f["train_cpu_seconds"] or 0) <= 240.0}
        rows.append(dict(
            seed=job["seed"], space=t["space"], name=s["Name"], coupling=f["coupling"], prior=f["prior"],
            iterations=f["iterations"], tau=f["temperature"], n=s["Count"],
            acc_mean=s["AccuracyMean"], acc_min=s["AccuracyMin"], held_acc_min=h["AccuracyMin"],
            ce_raw=s["CrossEntropy"], ce_cal=s["CalibratedCrossEntropy"], ce_cal_median=s["CalibratedCrossEntropyMedian"],
            gauss_ce_cal=g["CalibratedCrossEntropy"], held_ce_cal=h["CalibratedCrossEntropy"],
            diversity=opt(s["Diversity"]), div_ratio=div, novelty=opt(s["NoveltyRatio"]),
            mmd2=opt(s["Fidelity"]), mmd2_floor=opt(s["FidelityFloor"]),
            train_cpu_s=f["train_cpu_seconds"], train_cpu_scope=f["train_cpu_scope"],
            train_wall_s=f["train_seconds_recorded"], sample_wall_s=f["sampling_seconds"], final_loss=f["final_loss"],
            loss_by_t=" ".join(f"{x:.4g}" for x in f["loss_by_t_bucket"]),
            zoo_mean_loss_by_t=" ".join(f"{x:.4g}" for x in f["zoo_mean_loss_by_t_bucket"]),
            sample_acc_p05=f["sample_accuracy"]["p05"], sample_ce_raw_median=f["sample_ce_raw"]["median"],
            sample_ce_raw_p95=f["sample_ce_raw"]["p95"], sample_ce_raw_max=f["sample_ce_raw"]["max"],
            bars_missed=", ".join(k for k, v in bars.items() if not v) or "none"))
    for name, b in by.items():
        d = opt(b["Diversity"]); nv = opt(b["NoveltyRatio"]); mm = opt(b["Fidelity"])
        base_lines.append(f"| {t['space']} | {name} | {b['AccuracyMean']:.4f} ({b['AccuracyMin']:.4f}) | {b['CrossEntropy']:.4f} | "
                          f"{b['CalibratedCrossEntropy']:.4f} ({b['CalibratedCrossEntropyMedian']:.4f}) | "
                          f"{'–' if d is None else f'{d:.4f}'} | {'–' if nv is None else f'{nv:.3f}'} | {'–' if mm is None else f'{mm:.4f}'} |")

with open(os.path.join(out, "results.csv"), "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)

tm = ""
if len(sys.argv) > 3 and os.path.exists(sys.argv[3]):
    txt = open(sys.argv[3]).read()
    g = lambda pat: (re.search(pat, txt) or [None, "?"])[1]
    wall_, user, system = g(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)"), g(r"User time \(seconds\): (\S+)"), g(r"System time \(seconds\): (\S+)")
    rss = int(g(r"Maximum resident set size \(kbytes\): (\d+)")) / 1e6
    tm = f"Whole run (`/usr/bin/time -v`): {wall_} wall, {user} s user + {system} s system CPU, peak RSS {rss:.2f} GB."

md = [f"Seed {job['seed']}, {job['samples']} samples per flow (100 Euler steps, each flow's own τ), "
      f"{job['held_out_runs']} runs held out; the script's wall {job['wall_seconds']:.0f} s. {tm}", "",
      "| flow | coupling | prior, τ | acc mean (min) | CE raw | CE cal mean (median) | Gaussian / held-out CE cal | "
      "diversity (x held-out) | novelty | MMD² (floor) | train CPU / wall s | loss by t bucket [0,.2) … [.8,1] | "
      "zoo mean, same pairs | bars missed |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for r in rows:
    md.append(f"| {r['name']} | {r['coupling']} | {r['prior']}, {r['tau']:g} | {r['acc_mean']:.4f} ({r['acc_min']:.4f}) | "
              f"{r['ce_raw']:.4f} | {r['ce_cal']:.4f} ({r['ce_cal_median']:.4f}) | {r['gauss_ce_cal']:.4f} / {r['held_ce_cal']:.4f} | "
              f"{r['diversity']:.4f} ({r['div_ratio']:.2f}x) | {r['novelty']:.3f} | {r['mmd2']:.4f} ({r['mmd2_floor']:.4f}) | "
              f"{r['train_cpu_s']:.0f} / {r['train_wall_s']:.0f} | {r['loss_by_t']} | {r['zoo_mean_loss_by_t']} | {r['bars_missed']} |")
md += ["", "Per-sample test accuracy and raw CE quantiles (uncalibrated; is the mean driven by a few networks?):", "",
       "| flow | acc min / p05 / median | raw CE median / p95 / max |", "| --- | --- | --- |"]
for f in job["flows"]:
    a, c = f["sample_accuracy"], f["sample_ce_raw"]
    md.append(f"| {f['name']} | {a['min']:.4f} / {a['p05']:.4f} / {a['median']:.4f} | {c['median']:.4f} / {c['p95']:.4f} / {c['max']:.4f} |")
md += ["", "Baselines of the same run (per space):", "",
       "| space | baseline | acc mean (min) | CE raw | CE cal mean (median) | diversity | novelty | MMD² |",
       "| --- | --- | --- | --- | --- | --- | --- | --- |"] + base_lines
open(os.path.join(out, "table.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
