#!/usr/bin/env python3
"""The dev data the CSV flow derivation (src/Pipeline/FlowDerivation.fs) was chosen on, README "CSV tasks": never
wine or iris, which are the untuned check.
  python3 scripts/csv-dev-data.py OUT_DIR [SKLEARN_DATA_DIR]
blobs.csv: three Gaussian blobs in 4 dimensions, 50 rows each (iris' shape, 4-16-16-3), unit noise, centres
(0,0,0,0), (2.5,2.5,0,0), (0,2.5,2.5,1), seeded (Python's random.Random(0)).
bc13.csv (only with SKLEARN_DATA_DIR, Debian python3-sklearn's sklearn/datasets/data): the first 13 columns of
breast_cancer.csv and its label, 180 rows drawn with random.Random(1) (wine's fan-in and size, 2 classes)."""
import csv, os, random, sys

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
r = random.Random(0)
centres = [(0, 0, 0, 0), (2.5, 2.5, 0, 0), (0, 2.5, 2.5, 1)]
with open(os.path.join(out, "blobs.csv"), "w") as f:
    f.write("f1,f2,f3,f4,label\n")
    for c, m in enumerate(centres):
        for _ in range(50):
            f.write(",".join(f"{m[j] + r.gauss(0, 1):.4f}" for j in range(4)) + f",{c}\n")
if len(sys.argv) > 2:
    rows = list(csv.reader(open(os.path.join(sys.argv[2], "breast_cancer.csv"))))[1:]
    r2 = random.Random(1)
    r2.shuffle(rows)
    with open(os.path.join(out, "bc13.csv"), "w") as f:
        for row in rows[:180]:
            f.write(",".join(row[:13]) + "," + row[-1] + "\n")
