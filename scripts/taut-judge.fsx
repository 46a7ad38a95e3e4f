// Issue 13, docs/mnist/taut.md: hands N6's rows (scripts/taut-run.fsx) to frontier.md's judge against the frontier
// run's prior curve, and prints taut.md's same-τ readings (N6 − N, N6 − P, paired over the same 32 x0). No torch work.
//
//   OUT=results/taut FRONTIER=docs/mnist dotnet fsi scripts/taut-judge.fsx
//   OUT=results/taut/judge DOCS=results/taut/judge dotnet fsi scripts/frontier-judge.fsx
// Writes OUT/judge/frontier-rows.csv and OUT/judge/frontier-samples.csv: the frontier run's baselines and P rows, and
// N6's rows under the generator name "N" (the judge's), so the rule is frontier-judge.fsx's own code.
open System
open System.IO
open System.Globalization

let env (k: string) (d: string) = match Environment.GetEnvironmentVariable k with null | "" -> d | v -> v
let outDir, frontier = env "OUT" "results/taut", env "FRONTIER" "docs/mnist"
let judgeDir = Path.Combine(outDir, "judge")
Directory.CreateDirectory judgeDir |> ignore
let num (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
let name (line: string) = line.Substring(1, line.IndexOf('"', 1) - 1)
let rest (line: string) = line.Substring(line.IndexOf('"', 1) + 1)
let lines (f: string) = File.ReadAllLines f |> Array.filter (fun l -> l.Trim() <> "")
let fRows, fSamples = lines (Path.Combine(frontier, "frontier-rows.csv")), lines (Path.Combine(frontier, "frontier-samples.csv"))
let nRows, nSamples = lines (Path.Combine(outDir, "frontier-rows.csv")), lines (Path.Combine(outDir, "frontier-samples.csv"))
if fRows[0] <> nRows[0] || fSamples[0] <> nSamples[0] then failwith "the two runs' CSV headers differ"
// the same evaluation context: every row's judge median (the held-out checkpoints' median nearest distance)
let judgeMedian (l: string) = (l.Split ',')[14]
let jm = judgeMedian fRows[1]
for l in nRows[1..] do if judgeMedian l <> jm then failwith $"judge median {judgeMedian l} <> the frontier run's {jm}: not the same context"
printfn "judge median %s in both runs" jm
let relabel (l: string) = "\"N\"" + rest l
File.WriteAllLines(Path.Combine(judgeDir, "frontier-rows.csv"),
                   Array.append (fRows |> Array.filter (fun l -> l = fRows[0] || name l <> "N")) (nRows[1..] |> Array.map relabel))
File.WriteAllLines(Path.Combine(judgeDir, "frontier-samples.csv"),
                   Array.append (fSamples |> Array.filter (fun l -> l = fSamples[0] || name l <> "N")) (nSamples[1..] |> Array.map relabel))

// same-τ readings: per sample (generator, τ, i) -> test, validation accuracy
let per (ls: string[]) g tau =
    ls[1..] |> Array.filter (fun l -> name l = g && num ((l.Split ',')[1]) = tau)
    |> Array.map (fun l -> let c = l.Split ',' in int c[2], (num c[3], num c[4])) |> Array.sortBy fst |> Array.map snd
let mean (xs: float[]) = Array.average xs
let se (xs: float[]) = let m = mean xs in sqrt ((xs |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (xs.Length - 1)) / sqrt (float xs.Length)
let taus = nRows[1..] |> Array.map (fun l -> num ((l.Split ',')[1]))
printfn "\n| τ | vs | test D ± SE (D/SE) | validation D ± SE (D/SE) |\n| --- | --- | --- | --- |"
for tau in taus do
    let a = per nSamples "N6" tau
    for other in [ "N"; "P" ] do
        let b = per fSamples other tau
        if b.Length = a.Length && a.Length > 1 then
            let d k = Array.map2 (fun x y -> k x - k y) a b
            let dt, dv = d fst, d snd
            printfn "| %g | N6 − %s | %+.4f ± %.4f (%+.1f) | %+.4f ± %.4f (%+.1f) |" tau other (mean dt) (se dt) (mean dt / se dt) (mean dv) (se dv) (mean dv / se dv)
        else printfn "| %g | N6 − %s | no %s row at this τ | |" tau other other
