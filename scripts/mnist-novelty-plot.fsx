// Accuracy against novelty ratio for the MNIST flow experiments (issue 13: accuracy alone rewards copying training
// checkpoints, so every flow is shown on both axes): over training time from docs/mnist/flow-curves.csv (one line
// per run, a point per evaluated step) and over the sampling temperature τ from docs/mnist/temperature.csv (one
// line per run, a point per τ; the fitted Gaussian sampled from the same prior draws beside the flows). Writes
// docs/mnist/accuracy-vs-novelty-training.png and docs/mnist/accuracy-vs-novelty-temperature.png (series named by
// the CSVs' run ids: s1 the standardized Euclidean RT, m1 the MLP, gauss the fitted Gaussian, ...). Reads only
// the CSVs (no training, a few seconds):
//
//   dotnet fsi scripts/mnist-novelty-plot.fsx
#load "_load.fsx"
open System
open System.IO
open System.Globalization
open WeightFlow

let dir = Path.Combine(__SOURCE_DIRECTORY__, "../docs/mnist")
/// CSV rows as maps from the header's names (quoted fields may hold commas).
let read (file: string) =
    let split (line: string) =
        let cells = Collections.Generic.List<string>()
        let b = Text.StringBuilder()
        let mutable quoted = false
        for ch in line do
            match ch with
            | '"' -> quoted <- not quoted
            | ',' when not quoted -> cells.Add(b.ToString()); b.Clear() |> ignore
            | c -> b.Append c |> ignore
        cells.Add(b.ToString())
        cells.ToArray()
    let lines = File.ReadAllLines(Path.Combine(dir, file))
    let header = split lines[0]
    [ for l in lines[1..] do if l.Trim() <> "" then yield Map.ofArray (Array.zip header (split l)) ]
let num (s: string) = match Double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture) with | true, v -> v | _ -> nan
let series (rows: Map<string, string> list) (key: string) (label: Map<string, string> -> string) =
    rows
    |> List.filter (fun r -> Double.IsFinite (num r["novelty_ratio"]) && Double.IsFinite (num r["acc_mean"]))
    |> List.groupBy (fun r -> r["run"])
    |> List.map (fun (_, rs) ->
        let rs = rs |> List.sortBy (fun r -> num r[key])
        label rs.Head + " (" + (rs |> List.map (fun r -> r[key]) |> String.concat ", ") + ")",
        rs |> List.map (fun r -> num r["novelty_ratio"]) |> Array.ofList,
        rs |> List.map (fun r -> num r["acc_mean"]) |> Array.ofList)

let curves = read "flow-curves.csv"
// run ids only (the settings are in the CSV and README "MNIST flows"): long labels hid the points under the legend
let training = series curves "step" (fun r -> $"""{r["run"]}, steps""")
Figures.lines (Path.Combine(dir, "accuracy-vs-novelty-training.png"))
    "MNIST flows: accuracy against novelty ratio over training steps" "novelty ratio (1: as new as a held-out run)"
    "mean test accuracy of the samples" training [ ("issue 13 bar (single sample) 0.75", 0.75) ]
let temps = read "temperature.csv"
let temperature = series temps "tau" (fun r -> $"""{r["run"]}, τ""")
Figures.lines (Path.Combine(dir, "accuracy-vs-novelty-temperature.png"))
    "MNIST: accuracy against novelty ratio over the prior temperature τ" "novelty ratio (1: as new as a held-out run)"
    "mean test accuracy of the samples" temperature [ ("issue 13 bar (single sample) 0.75", 0.75) ]
printfn "wrote %s and %s" (Path.Combine(dir, "accuracy-vs-novelty-training.png")) (Path.Combine(dir, "accuracy-vs-novelty-temperature.png"))
