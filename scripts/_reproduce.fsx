// Shared by the reproduction scripts: the preset from the command line (--tiny = quick, else full), the seed, the
// output folder, a progress line per finished stage, and the quality-table printer. No library logic here: each
// script calls the same core function as `weightflow reproduce NAME`.
#load "_load.fsx"

open System.IO
open WeightFlow

let args = fsi.CommandLineArgs
let tiny = args |> Array.contains "--tiny"
let preset = if tiny then Quick else Full
let seed = args |> Array.tryFindIndex ((=) "--seed") |> Option.map (fun i -> int64 args[i + 1]) |> Option.defaultValue 0L
let outDir (name: string) = Path.Combine("results", $"reproduce-{name}" + (if tiny then "-quick" else ""))

/// Prints a stage's label once it completes.
let progress (p: MainJobProgress) = if p.Done = p.Total then eprintfn "%s: done" p.Label

/// One table of the main job: flows, then the baseline rows.
let printTable (title: string) (t: MainJobTable) =
    printfn "\n%s (%s space)" title t.Space
    printfn "%-34s %6s %17s %8s %8s %10s %9s" "row" "n" "accuracy" "CE" "CE cal" "diversity" "novelty"
    let opt (f: float option) = f |> Option.map (sprintf "%.4f") |> Option.defaultValue "–"
    for r in t.Flows @ t.Baselines do
        printfn "%-34s %6d %8.3f ± %.3f %8.4f %8.4f %10s %9s" r.Name r.Count r.AccuracyMean r.AccuracyStd r.CrossEntropy
            r.CalibratedCrossEntropy (opt r.Diversity) (opt r.NoveltyRatio)
