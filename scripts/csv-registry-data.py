#!/usr/bin/env python3
"""The untouched check of the CSV flow derivation (src/Pipeline/FlowDerivation.fs, README "CSV tasks"): the Palmer
penguins table shipped in npm's vega-datasets (a registry package; nothing is committed), as a weightflow CSV.
  npm pack vega-datasets@3.2.1 && tar xzf vega-datasets-3.2.1.tgz
  python3 scripts/csv-registry-data.py package/data/penguins.json OUT_DIR
penguins.csv: the four numeric measurements (beak length, beak depth, flipper length, body mass; the loader
standardizes them with training statistics) and the species as an integer label (sorted names: Adelie 0, Chinstrap 1,
Gentoo 2); rows with a missing measurement are dropped (the categorical island and sex columns are not features).
Not breast_cancer.csv of Debian's python3-sklearn: that is the UCI Wisconsin set the main job embeds and was tuned on."""
import json, os, sys

rows = json.load(open(sys.argv[1]))
features = ["Beak Length (mm)", "Beak Depth (mm)", "Flipper Length (mm)", "Body Mass (g)"]
species = sorted({r["Species"] for r in rows})
kept = [r for r in rows if all(r.get(f) is not None for f in features)]
os.makedirs(sys.argv[2], exist_ok=True)
path = os.path.join(sys.argv[2], "penguins.csv")
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write("beak_length,beak_depth,flipper_length,body_mass,species\n")
    for r in kept:
        f.write(",".join(str(r[c]) for c in features) + f",{species.index(r['Species'])}\n")
os.replace(tmp, path)
print(f"{path}: {len(kept)} rows ({len(rows) - len(kept)} with a missing measurement dropped), {len(species)} classes {species}")
