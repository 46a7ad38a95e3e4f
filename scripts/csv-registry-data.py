#!/usr/bin/env python3
"""Untouched checks of the CSV flow derivation (src/Pipeline/FlowDerivation.fs, README "CSV tasks"): tables shipped in
npm's vega-datasets (a registry package; nothing is committed), written as weightflow CSVs (numeric features, the
class as an integer label in the last column; the loader standardizes features with training statistics).
  npm pack vega-datasets@3.2.1 && tar xzf vega-datasets-3.2.1.tgz
  python3 scripts/csv-registry-data.py package/data/penguins.json OUT_DIR     # or cars.json, gapminder.json
penguins.csv (session 8's check): beak length, beak depth, flipper length, body mass -> species (sorted names:
  Adelie 0, Chinstrap 1, Gentoo 2); the categorical island and sex columns are not features.
cars.csv (session 10): miles per gallon, cylinders, displacement, horsepower, weight, acceleration, model year ->
  origin (sorted names: Europe 0, Japan 1, USA 2); the car's name is not a feature.
gapminder.csv (session 10): year, population, life expectancy, fertility -> cluster (the table's 0-5 region
  groups); the country's name is not a feature.
Rows with a missing value in a kept column are dropped (and counted). Not breast_cancer.csv, iris or wine of Debian's
python3-sklearn: the main job embeds the first and the CSV derivation was chosen looking at the other two."""
import json, os, sys

# table -> (output name, [(header, field)], label field, whether the label is a name to index by sorted order)
TABLES = {
    "penguins.json": ("penguins.csv", [("beak_length", "Beak Length (mm)"), ("beak_depth", "Beak Depth (mm)"),
                                       ("flipper_length", "Flipper Length (mm)"), ("body_mass", "Body Mass (g)")],
                      ("species", "Species"), True),
    "cars.json": ("cars.csv", [("mpg", "Miles_per_Gallon"), ("cylinders", "Cylinders"), ("displacement", "Displacement"),
                               ("horsepower", "Horsepower"), ("weight", "Weight_in_lbs"), ("acceleration", "Acceleration"),
                               ("year", "Year")],
                  ("origin", "Origin"), True),
    "gapminder.json": ("gapminder.csv", [("year", "year"), ("population", "pop"), ("life_expect", "life_expect"),
                                         ("fertility", "fertility")],
                       ("cluster", "cluster"), False),
}

def value(field, v):
    # cars' model year is an ISO date ("1970-01-01"): its year is the feature
    return int(v[:4]) if field == "Year" and isinstance(v, str) else v

table = os.path.basename(sys.argv[1])
if table not in TABLES:
    sys.exit(f"{table}: unknown table; expected one of {', '.join(sorted(TABLES))}")
name, features, (label_name, label_field), by_name = TABLES[table]
rows = json.load(open(sys.argv[1]))
kept = [r for r in rows if all(r.get(f) is not None for _, f in features) and r.get(label_field) is not None]
classes = sorted({r[label_field] for r in kept})
os.makedirs(sys.argv[2], exist_ok=True)
path = os.path.join(sys.argv[2], name)
tmp = path + ".tmp"
with open(tmp, "w") as f:
    f.write(",".join([h for h, _ in features] + [label_name]) + "\n")
    for r in kept:
        label = classes.index(r[label_field]) if by_name else int(r[label_field])
        f.write(",".join(str(value(c, r[c])) for _, c in features) + f",{label}\n")
os.replace(tmp, path)
counts = {c: sum(1 for r in kept if r[label_field] == c) for c in classes}
print(f"{path}: {len(kept)} rows ({len(rows) - len(kept)} with a missing value dropped), {len(classes)} classes {counts}")
