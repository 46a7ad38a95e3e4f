#!/usr/bin/env python3
"""The issue-11 bars per flow, seed and temperature from the JSON files scripts/uci-seeds.sh writes
(`weightflow run --json`): calibrated CE below the tau = 1 fitted Gaussian's and within 1.5x the held-out's, minimum
accuracy >= 0.93 (and the held-out checkpoints' own minimum), diversity within 0.5-2x held-out, novelty >= 0.5.
Usage: scripts/uci-seeds-table.py OUT [--csv FILE]"""
import csv, glob, json, os, re, sys

def opt(v):
    if isinstance(v, dict) and "Fields" in v:  # an F# option serialized as a union
        return v["Fields"][0] if v["Fields"] else None
    return v

out = sys.argv[1]
rows = []
for path in sorted(glob.glob(os.path.join(out, "seed*", "tau*.json"))):
    # tau0.8.json: every flow at that tau; tauLABEL.json (scripts/uci-flow-temperatures.fsx): each flow's own tau
    m = re.search(r"seed(\d+)/tau([^/]+)\.json$", path)
    seed, label = int(m.group(1)), m.group(2)
    tau = float(label) if re.fullmatch(r"[0-9.]+", label) else label
    try:
        job = json.load(open(path))
    except ValueError:
        continue
    tm = {}
    tpath = path[:-5] + ".time"
    if os.path.exists(tpath):
        for tok in open(tpath).read().split():
            k, v = tok.split("="); tm[k] = float(v)
    train_s = {f["name"]: f.get("training_seconds") for f in job["flows"]}
    flow_tau = {f["name"]: f.get("temperature") for f in job["flows"]}  # a flow's own tau (absent before it existed)
    for t in job["tables"]:
        by = {b["Name"]: b for b in t["baselines"]}
        g, h = by["fitted Gaussian"], by["held-out"]
        gt = next((b for n, b in by.items() if n.startswith("fitted Gaussian (")), None)
        hdiv = opt(h["Diversity"])
        for f in t["flows"] + [g] + ([gt] if gt else []):
            ce, div = f["CalibratedCrossEntropy"], opt(f["Diversity"])
            rows.append(dict(
                seed=seed, tau=flow_tau.get(f["Name"]) or tau, space=t["space"], name=f["Name"], n=f["Count"],
                acc=f["AccuracyMean"], acc_min=f["AccuracyMin"], held_min=h["AccuracyMin"],
                ce_cal=ce, ce_cal_median=f["CalibratedCrossEntropyMedian"], gauss=g["CalibratedCrossEntropy"],
                held=h["CalibratedCrossEntropy"], ce_vs_gauss=ce / g["CalibratedCrossEntropy"] - 1.0,
                div_x=div / hdiv if div is not None else None, mmd2=opt(f["Fidelity"]), mmd2_floor=opt(f["FidelityFloor"]),
                novelty=opt(f["NoveltyRatio"]), train_s=train_s.get(f["Name"]),
                job_cpu_s=(tm.get("user_s", 0) + tm.get("sys_s", 0)) or None, job_wall_s=tm.get("wall_s"),
                ok_ce=ce < g["CalibratedCrossEntropy"] and ce <= 1.5 * h["CalibratedCrossEntropy"],
                ok_min=f["AccuracyMin"] >= 0.93, ok_div=div is not None and 0.5 <= div / hdiv <= 2.0,
                ok_nov=(opt(f["NoveltyRatio"]) or 0) >= 0.5))
def fmt(v):
    if v is None: return "-"
    if isinstance(v, bool): return "Y" if v else "n"
    if isinstance(v, float): return f"{v:.4f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)
cols = ["seed", "tau", "name", "n", "acc", "acc_min", "held_min", "ce_cal", "gauss", "held", "ce_vs_gauss", "div_x",
        "mmd2", "mmd2_floor", "novelty", "train_s", "ok_ce", "ok_min", "ok_div", "ok_nov"]
print(" ".join(f"{c:>10}" for c in cols))
for r in rows:
    print(" ".join(f"{fmt(r[c]):>10}"[-max(10, len(fmt(r[c]))):] for c in cols))
if "--csv" in sys.argv:
    with open(sys.argv[sys.argv.index("--csv") + 1], "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)
