// The judgement of the pre-stated test docs/uci/tau3.md, once, on the table's own seed-0 test split: the three
// nine-table Euclidean RT rows (the table's flows, folder DIR as `reproduce uci --preset full` left it, with its cached
// 512-step samples at the table's τs) sampled at the selected τ₃ with the table's sampler (512 Euler steps, unguided,
// 256 networks, seed 0) and evaluated as `reproduce uci` evaluates them (`Evaluation.ofHoldout` on the aligned zoo, raw
// space, T per network on training + validation). First a check: the cached samples re-evaluated must equal the
// folder's table-7.1.csv exactly. The bar (the τ = 1 fitted Gaussian) is re-measured by the same run.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau3-test.fsx DIR TAU > LOG
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open System.IO
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let dir, tau =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; t |] -> d, Double.Parse(t, Globalization.CultureInfo.InvariantCulture)
    | _ -> failwith "usage: tau3-test.fsx DIR TAU"
let c = euclideanJob 0L dir
let sampler = candidates |> List.find (fun k -> k.Name = "S1")
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data aligned (Holdout.lastRuns c.HeldOutRuns aligned)
printfn "seed 0 (the table's), test split %d rows; τ₃ = %g; context: cpu %.0f s" data.Test.Y.shape[0] tau (cpu ())

let opt (x: float option) = x |> Option.map (sprintf "%.5f") |> Option.defaultValue "–"
let show label (f: FlowRun) (t: float) (r: Evaluation.Row) =
    printfn "row\t%s\t%s\tτ %.1f\t%d networks\tacc %.4f (min %.4f)\tCE raw %.6f\tCE cal %.6f (%.17g)\tdiv %s\tnovelty %s\t(cpu %.0f s, wall %.0f s)"
        label f.Name t r.Count r.AccuracyMean r.AccuracyMin r.CrossEntropy r.CalibratedCrossEntropy r.CalibratedCrossEntropy (opt r.Diversity)
        (r.NoveltyRatio |> Option.map (sprintf "%.3f") |> Option.defaultValue "–") (cpu ()) sw.Elapsed.TotalSeconds

// the check: the folder's cached samples (the CLI's, 512 steps at the table's τs) re-evaluated equal its table-7.1.csv
let csv = File.ReadAllLines(Path.Combine(dir, "table-7.1.csv")) |> Array.map (fun l -> l.Split ',')
let col name = Array.IndexOf(csv[0], name)
let today =
    [ for f in c.Flows ->
        let s = MainJobConfig.samplingOf c f
        if s.Steps <> sampler.Steps then failwith $"{f.Name}: the table samples with {s.Steps} steps, not {sampler.Steps}"
        let _, theta, _ = Sampling.load (MainJob.samplesPath c f)
        let r = Evaluation.evaluate ctx f.Name theta
        theta.Dispose()
        show "today" f s.Temperature r
        let line = csv |> Array.find (fun x -> x[0] = "raw" && x[1] = f.Name)
        for field, v in [ "accuracy_mean", r.AccuracyMean; "ce_calibrated", r.CalibratedCrossEntropy; "ce_raw", r.CrossEntropy ] do
            let t = Double.Parse(line[col field], Globalization.CultureInfo.InvariantCulture)
            printfn "check\t%s\t%s\tthis run %.17g, table-7.1.csv %.17g, |Δ| %g" f.Name field v t (abs (v - t))
        f, s.Temperature, r ]

let baselines = Evaluation.baselines ctx id c.Sampling.Count (c.Seed + 1L) h.Train pool
let gaussian = baselines |> List.find (fun b -> b.Name = "fitted Gaussian")
for b in baselines do
    printfn "baseline\t%s\tacc %.4f (min %.4f)\tCE cal %.6f (%.17g)\tdiv %s" b.Name b.AccuracyMean b.AccuracyMin b.CalibratedCrossEntropy b.CalibratedCrossEntropy (opt b.Diversity)

// the judged rows: every row at τ₃ (a row whose table τ is τ₃ keeps its cached samples: the same draw)
let judged =
    [ for f, t, r in today ->
        if t = tau then
            printfn "row\tτ₃\t%s\tτ₃ equals the table's τ: the cached samples' evaluation above" f.Name
            f, tau, r
        else
            let flow = Flow.load torch.CPU (MainJob.flowPath c f)
            let s = MainJobConfig.samplingOf c f
            use theta = draw data s sampler s.Count tau flow
            let r = Evaluation.evaluate ctx f.Name theta
            show "τ₃" f tau r
            f, tau, r ]

let bar = gaussian.CalibratedCrossEntropy
let meets (r: Evaluation.Row) = r.AccuracyMean >= 0.98 && r.CalibratedCrossEntropy < bar
let verdict (r: Evaluation.Row) =
    if meets r then sprintf "met (%+.1f%%)" (100.0 * (r.CalibratedCrossEntropy / bar - 1.0))
    else sprintf "missed (%+.1f%%%s)" (100.0 * (r.CalibratedCrossEntropy / bar - 1.0)) (if r.AccuracyMean < 0.98 then "; accuracy < 0.98" else "")
printfn "\nbar: mean accuracy ≥ 0.98 and calibrated CE < the τ = 1 fitted Gaussian's %.6f (%.17g)\n" bar bar
printfn "| row | today τ | today accuracy mean (min) | today CE raw | today CE calibrated | today bar | τ₃ | τ₃ accuracy mean (min) | τ₃ CE raw | τ₃ CE calibrated | τ₃ bar | τ₃ diversity / novelty |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for (f, ta, a), (_, tb, b) in List.zip today judged do
    printfn "| %s | %.1f | %.4f (%.4f) | %.4f | %.6f | %s | %.1f | %.4f (%.4f) | %.4f | %.6f | %s | %s / %s |" f.Name ta a.AccuracyMean a.AccuracyMin a.CrossEntropy a.CalibratedCrossEntropy (verdict a)
        tb b.AccuracyMean b.AccuracyMin b.CrossEntropy b.CalibratedCrossEntropy (verdict b) (opt b.Diversity) (b.NoveltyRatio |> Option.map (sprintf "%.3f") |> Option.defaultValue "–")
let mean rs = rs |> List.averageBy (fun (_, _, r: Evaluation.Row) -> r.CalibratedCrossEntropy)
let count rs = rs |> List.filter (fun (_, _, r) -> meets r) |> List.length
printfn "\ntoday: %d of 3 meet the bar, mean calibrated CE %.6f (%.17g)" (count today) (mean today) (mean today)
printfn "τ₃ %g: %d of 3 meet the bar, mean calibrated CE %.6f (%.17g)" tau (count judged) (mean judged) (mean judged)
printfn "adopted (more rows at the bar than today's and a lower mean): %b" (count judged > count today && mean judged < mean today)
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
