#!/usr/bin/env python3
"""results.csv and table.md from the JSON files scripts/uci-flows.sh writes (one folder per flow), with issue 11's
bars judged per flow against the baselines of the same `weightflow eval` call (same space, same seed)."""
import csv, json, os, sys

out = sys.argv[1]
rows, baselines, losses = [], {}, []

def kv(path):
    d = {}
    if os.path.exists(path):
        for line in open(path):
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1); d[k] = v
    return d

for name in sorted(os.listdir(out)):
    d = os.path.join(out, name)
    if not os.path.exists(os.path.join(d, "eval.json")):
        continue
    try:
        tr, sa, ev = (json.load(open(os.path.join(d, f))) for f in ("train.json", "sample.json", "eval.json"))
    except (OSError, ValueError):
        print(f"skipping {name}: unfinished or failed", file=sys.stderr); continue
    tm, load = kv(os.path.join(d, "train.time")), kv(os.path.join(d, "load.txt"))
    by = {r["Name"]: r for r in ev["rows"]}
    s, g, h, m = by["samples"], by["fitted Gaussian"], by["held-out"], by["zoo mean"]
    baselines.setdefault(ev["space"], (m, g, h))
    div_ratio = s["Diversity"] / h["Diversity"]
    bars = {
        "ce<gauss": s["CalibratedCrossEntropy"] < g["CalibratedCrossEntropy"],
        "ce<=1.5held": s["CalibratedCrossEntropy"] <= 1.5 * h["CalibratedCrossEntropy"],
        "min>=0.93": s["AccuracyMin"] >= 0.93,
        "div in [0.5,2]x": 0.5 <= div_ratio <= 2.0,
        "novelty>=0.5": s["NoveltyRatio"] >= 0.5,
        "cpu<=240s": tr["cpu_seconds"] <= 240.0,
    }
    rows.append(dict(
        flow=tr["flow"], model=tr["model"], coupling=tr["coupling"], space=ev["space"], iterations=tr["iterations"],
        batch=tr["batch"], parameters=tr["parameters"], train_wall_s=tr["seconds"], train_cpu_s=tr["cpu_seconds"],
        process_wall_s=tm.get("wall_s"), process_cpu_s=(float(tm["user_s"]) + float(tm["sys_s"])) if tm else None,
        load_before=load.get("load_before"), load_after=load.get("load_after_train"),
        final_loss=tr["final_loss"], non_finite=sa["non_finite"], steps=sa["steps"], sample_s=sa["seconds"],
        acc_mean=s["AccuracyMean"], acc_min=s["AccuracyMin"], acc_std=s["AccuracyStd"], ce_raw=s["CrossEntropy"],
        ce_cal=s["CalibratedCrossEntropy"], ce_cal_median=s["CalibratedCrossEntropyMedian"],
        calib_at_bound=s["CalibrationAtBound"], bma16_acc=s["Bma"]["Accuracy"], bma16_nll=s["Bma"]["Nll"],
        diversity=s["Diversity"], mmd2=s["Fidelity"], mmd2_floor=s["FidelityFloor"], sw=s["SlicedWasserstein"],
        sw_floor=s["SlicedWassersteinFloor"], novelty=s["NoveltyRatio"],
        gauss_ce_cal=g["CalibratedCrossEntropy"], gauss_ce_cal_median=g["CalibratedCrossEntropyMedian"],
        held_ce_cal=h["CalibratedCrossEntropy"], held_ce_cal_median=h["CalibratedCrossEntropyMedian"],
        held_diversity=h["Diversity"], div_ratio=div_ratio,
        loss_by_t=" ".join(f"{x:.4g}" for x in tr["loss_by_t_bucket"]),
        zoo_mean_loss_by_t=" ".join(f"{x:.4g}" for x in tr["zoo_mean_loss_by_t_bucket"]),
        bars_met=" ".join(k for k, v in bars.items() if v), bars_missed=" ".join(k for k, v in bars.items() if not v)))

if not rows:
    sys.exit(f"no finished flows under {out}")
with open(os.path.join(out, "results.csv"), "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0].keys())); w.writeheader(); w.writerows(rows)

f4 = lambda x: f"{x:.4f}"
md = [f"Run: {open(os.path.join(out, 'run.txt')).read().strip()}".replace("\n", "; "), "",
      "| flow, model, coupling | train wall s / CPU s | acc mean ± std (min) | CE raw | CE cal mean (median) | "
      "Gaussian / held-out CE cal | diversity (x held-out) | novelty | MMD² (floor) | bars missed |",
      "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
for r in rows:
    md.append(f"| {r['flow']}, {r['model']}, {r['coupling']} | {r['train_wall_s']:.0f} / {r['train_cpu_s']:.0f} | "
              f"{r['acc_mean']:.4f} ± {r['acc_std']:.4f} ({r['acc_min']:.4f}) | {f4(r['ce_raw'])} | "
              f"{f4(r['ce_cal'])} ({f4(r['ce_cal_median'])}) | {f4(r['gauss_ce_cal'])} / {f4(r['held_ce_cal'])} | "
              f"{r['diversity']:.4f} ({r['div_ratio']:.2f}x) | {r['novelty']:.2f} | {f4(r['mmd2'])} ({f4(r['mmd2_floor'])}) | "
              f"{r['bars_missed'] or 'none'} |")
md += ["", "Baselines (same eval calls, per space):", "",
       "| space, baseline | acc mean ± std (min) | CE raw | CE cal mean (median) | diversity | novelty | MMD² |",
       "| --- | --- | --- | --- | --- | --- | --- |"]
for space, (m, g, h) in baselines.items():
    for label, b in (("zoo mean", m), ("fitted Gaussian", g), ("held-out", h)):
        div = "–" if b["Diversity"] is None else f"{b['Diversity']:.4f}"
        mmd = "–" if b["Fidelity"] is None else f4(b["Fidelity"])
        md.append(f"| {space}, {label} | {b['AccuracyMean']:.4f} ± {b['AccuracyStd']:.4f} ({b['AccuracyMin']:.4f}) | "
                  f"{f4(b['CrossEntropy'])} | {f4(b['CalibratedCrossEntropy'])} ({f4(b['CalibratedCrossEntropyMedian'])}) | "
                  f"{div} | {b['NoveltyRatio']:.2f} | {mmd} |")
md += ["", "Training loss per t bucket [0,.2) [.2,.4) [.4,.6) [.6,.8) [.8,1] (EMA flow) beside predicting the zoo mean:", "",
       "| flow, model, coupling | flow | zoo mean |", "| --- | --- | --- |"]
for r in rows:
    md.append(f"| {r['flow']}, {r['model']}, {r['coupling']} | {r['loss_by_t']} | {r['zoo_mean_loss_by_t']} |")
open(os.path.join(out, "table.md"), "w").write("\n".join(md) + "\n")
print("\n".join(md))
