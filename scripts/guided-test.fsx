// The judgement of the pre-stated test docs/uci/guided.md, once, on the table's own seed-0 test split: the three
// nine-table Euclidean RT rows (flows of scripts/guided-train.fsx DIR 0, the table's recipe) sampled at the table's
// τs (`Reproduce.uciSelectedTemperature`: 0.7 / 0.7 / 0.6), 256 networks each, by S0 (the table's 100 Euler steps;
// must reproduce docs/reproduce/uci-full/table-7.1.csv's rows exactly: a check) and by the selected candidate, and
// evaluated as `reproduce uci` evaluates them (`Evaluation.ofHoldout` on the aligned zoo, raw space, T per network on
// training + validation); the bar (the τ = 1 fitted Gaussian, `Evaluation.baselines`) re-measured by the same run.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/guided-test.fsx DIR CANDIDATE > LOG      (CANDIDATE: S1 or S2)
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open System.IO
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let dir, selected =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; k |] ->
        match candidates |> List.tryFind (fun x -> x.Name = k) with
        | Some x when x.Name <> "S0" -> d, x
        | _ -> failwith $"Unknown or unjudgeable candidate {k}: give one of S1, S2 (S0 selected = nothing to judge)"
    | _ -> failwith "usage: guided-test.fsx DIR CANDIDATE"
let c = euclideanJob 0L dir
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data aligned (Holdout.lastRuns c.HeldOutRuns aligned)
printfn "seed 0 (the table's), test split %d rows; context: cpu %.0f s" data.Test.Y.shape[0] (cpu ())

let opt (x: float option) = x |> Option.map (sprintf "%.5f") |> Option.defaultValue "–"

let rowsOf (k: Candidate) =
    [ for f in c.Flows ->
        let flow = Flow.load torch.CPU (MainJob.flowPath c f)
        let s = MainJobConfig.samplingOf c f
        use theta = draw data s k s.Count s.Temperature flow
        let r = Evaluation.evaluate ctx f.Name theta
        printfn "row\t%s\t%s\tτ %.1f\t%d x %d steps, λ %g\tacc %.4f (min %.4f)\tCE raw %.4f\tCE cal %.6f\tdiv %s\tnovelty %s\t(cpu %.0f s, wall %.0f s)"
            k.Name f.Name s.Temperature r.Count k.Steps k.Lambda r.AccuracyMean r.AccuracyMin r.CrossEntropy r.CalibratedCrossEntropy (opt r.Diversity)
            (r.NoveltyRatio |> Option.map (sprintf "%.3f") |> Option.defaultValue "–") (cpu ()) sw.Elapsed.TotalSeconds
        f.Name, s.Temperature, r ]

let s0 = rowsOf candidates.Head
// the check: S0 is the table; its rows must equal table-7.1.csv's (same flows, samples and evaluation)
let csv = File.ReadAllLines "docs/reproduce/uci-full/table-7.1.csv" |> Array.map (fun l -> l.Split ',')
let col name = Array.IndexOf(csv[0], name)
for name, _, r in s0 do
    let line = csv |> Array.find (fun x -> x[0] = "raw" && x[1] = name)
    for field, v in [ "accuracy_mean", r.AccuracyMean; "ce_calibrated", r.CalibratedCrossEntropy; "ce_raw", r.CrossEntropy ] do
        let t = Double.Parse(line[col field], Globalization.CultureInfo.InvariantCulture)
        printfn "check\t%s\t%s\tthis run %.17g, table-7.1.csv %.17g, |Δ| %g" name field v t (abs (v - t))

let baselines = Evaluation.baselines ctx id c.Sampling.Count (c.Seed + 1L) h.Train pool
let gaussian = baselines |> List.find (fun b -> b.Name = "fitted Gaussian")
let gaussian07 = Evaluation.temperedGaussian ctx id c.Sampling.Count (c.Seed + 1L) 0.7 h.Train
for b in baselines @ [ gaussian07 ] do
    printfn "baseline\t%s\tacc %.4f (min %.4f)\tCE cal %.6f\tdiv %s" b.Name b.AccuracyMean b.AccuracyMin b.CalibratedCrossEntropy (opt b.Diversity)
let sk = rowsOf selected

let bar = gaussian.CalibratedCrossEntropy
let meets (r: Evaluation.Row) = r.AccuracyMean >= 0.98 && r.CalibratedCrossEntropy < bar
printfn "\nbar: mean accuracy ≥ 0.98 and calibrated CE < the τ = 1 fitted Gaussian's %.6f (τ 0.7 Gaussian %.6f)\n" bar gaussian07.CalibratedCrossEntropy
printfn "| row (τ) | S0 accuracy mean (min) | S0 CE raw | S0 CE calibrated | S0 bar | %s accuracy mean (min) | %s CE raw | %s CE calibrated | %s bar | %s diversity / novelty |" selected.Name selected.Name selected.Name selected.Name selected.Name
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for (name, tau, a), (_, _, b) in List.zip s0 sk do
    let verdict (r: Evaluation.Row) = if meets r then "met" else sprintf "missed (%+.1f%%%s)" (100.0 * (r.CalibratedCrossEntropy / bar - 1.0)) (if r.AccuracyMean < 0.98 then "; accuracy < 0.98" else "")
    printfn "| %s (%.1f) | %.4f (%.4f) | %.4f | %.4f | %s | %.4f (%.4f) | %.4f | %.4f | %s | %s / %s |" name tau a.AccuracyMean a.AccuracyMin a.CrossEntropy a.CalibratedCrossEntropy (verdict a)
        b.AccuracyMean b.AccuracyMin b.CrossEntropy b.CalibratedCrossEntropy (verdict b) (opt b.Diversity) (b.NoveltyRatio |> Option.map (sprintf "%.3f") |> Option.defaultValue "–")
let mean (rs: (string * float * Evaluation.Row) list) = rs |> List.averageBy (fun (_, _, r) -> r.CalibratedCrossEntropy)
let count rs = rs |> List.filter (fun (_, _, r) -> meets r) |> List.length
printfn "\nS0: %d of 3 meet the bar, mean calibrated CE %.6f" (count s0) (mean s0)
printfn "%s: %d of 3 meet the bar, mean calibrated CE %.6f" selected.Name (count sk) (mean sk)
printfn "adopted (more rows at the bar than S0 and a lower mean): %b" (count sk > count s0 && mean sk < mean s0)
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
