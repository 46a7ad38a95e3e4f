// Issue 13, docs/mnist/wides.md's matched-novelty reading (criterion committed before this ran): the standardized
// (diagonal) prior alone P over τ ∈ {0, 0.1, …, 1} (the same 32 x0 as the widths, VelocityRule.PriorOnly) and the
// widths' τ-1 samples of `reproduce scaling --flow euclidean --prior standardized` (read back from OUT, not resampled),
// each row scored by the main job's evaluation (test digits, novelty against the held-out runs), plus per-sample test /
// validation accuracy and nearest-training distance for scripts/wides-judge.fsx (frontier-run.fsx's measurement).
//
//   OUT=results/wides WEIGHTFLOW_THREADS=1 dotnet fsi scripts/wides-frontier.fsx
// Writes (after every row) OUT/wides-rows.csv and OUT/wides-samples.csv.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/wides"
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let rss () = proc.Refresh(); float proc.WorkingSet64 / 1e9
let log (s: string) =
    printfn "[%s wall %.0f s, cpu %.0f s, rss %.2f GB, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (rss ()) (load ()) s
    Console.Out.Flush()
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
let settle () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect()

let gridP = [ 1.0; 0.0; 0.1; 0.2; 0.3; 0.4; 0.5; 0.6; 0.7; 0.8; 0.9 ]

let r = ReproduceScaling.configWith Euclidean ScalingPrior.Standardized Full 0L outDir
let c = r.Job
for f in c.Flows do
    if not (File.Exists (MainJob.samplesPath c f)) then failwith $"{MainJob.samplesPath c f} is missing: run `reproduce scaling --preset full --flow euclidean --prior standardized --out {outDir}` first"
let first = c.Flows.Head
let flow = Flow.load torch.CPU (MainJob.flowPath c first)

/// A CSV line's cells (Report.csv quotes cells holding commas; names like "Euclidean RT d 8, standardized prior" do).
let split (line: string) =
    let cells = Collections.Generic.List<string>()
    let b = Text.StringBuilder()
    let mutable quoted = false
    for ch in line do
        match ch with
        | '"' -> quoted <- not quoted
        | ',' when not quoted -> cells.Add(b.ToString()); b.Clear() |> ignore
        | x -> b.Append x |> ignore
    cells.Add(b.ToString())
    cells.ToArray()

// the command's rows (fig-7.7.csv) to check against: accuracy and novelty of every width and of the control
let figRows =
    File.ReadAllLines(Path.Combine(outDir, "fig-7.7.csv")) |> Array.tail |> Array.filter (fun l -> l.Trim() <> "")
    |> Array.map (fun l ->
        let cells = split l
        let n = cells[1]
        n, (Double.Parse(cells[6], CultureInfo.InvariantCulture), Double.Parse(cells[14], CultureInfo.InvariantCulture)))
    |> Map.ofArray
log $"fig-7.7.csv rows: {String.Join(';', figRows.Keys)}"

// the evaluation context of the command's raw-space table, as frontier-run.fsx builds it
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let h = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, hs, pool = Evaluation.ofHoldout c.Evaluation id data aligned h
pool.Dispose()
let z = match ctx.Zoo with Some z -> z | None -> failwith "no zoo reference in the context"
log $"context: test {data.Test.Y.shape[0]}, validation {data.Valid.Y.shape[0]} digits; judge median distance {z.Novelty.HeldOutMedian}"

let rowsPath, samplesPath = Path.Combine(outDir, "wides-rows.csv"), Path.Combine(outDir, "wides-samples.csv")
let rowsHeader = "generator,tau,count,acc_mean,acc_std,acc_min,bma16,ce_raw,ce_calibrated,diversity,novelty,fidelity,fidelity_floor,nearest_median,judge_median,eval_seconds"
let rows = Collections.Generic.List<string>()
let samples = Collections.Generic.List<string>()
let opt (x: float option) = x |> Option.map inv |> Option.defaultValue ""

/// One row: the main job's evaluation plus per-sample test / validation accuracy and nearest-training distance, with
/// frontier.md's consistency checks (1e-6) and, where the command wrote the row, its accuracy and novelty (1e-6).
let measure (gen: string) (tau: float) (check: string option) (theta: Tensor) =
    let r = Evaluation.evaluate ctx gen theta
    let accT, accV, dist =
        Scope.noGrad (fun () ->
            Scope.value (fun () ->
                let at = (Mlp.accuracy ctx.Layout theta data.Test.X data.Test.Y).to_type(torch.float64)
                let av = (Mlp.accuracy ctx.Layout theta data.Valid.X data.Valid.Y).to_type(torch.float64)
                let d = Novelty.nearestDistance z.Novelty.Training (Novelty.realign ctx.Config.Alignment ctx.Layout z.Novelty.Reference theta)
                let ratio = d.median().ToDouble() / z.Novelty.HeldOutMedian
                if abs (at.mean().ToDouble() - r.AccuracyMean) > 1e-6 then failwith $"{gen} τ {tau}: per-sample test accuracy mean {at.mean().ToDouble()} <> row {r.AccuracyMean}"
                if abs (ratio - Option.get r.NoveltyRatio) > 1e-6 then failwith $"{gen} τ {tau}: per-sample novelty {ratio} <> row {r.NoveltyRatio}"
                at.data<float>().ToArray(), av.data<float>().ToArray(), d.data<float>().ToArray()))
    match check with
    | Some name ->
        let acc, nov = figRows[name]
        if abs (acc - r.AccuracyMean) > 1e-6 || abs (nov - Option.get r.NoveltyRatio) > 1e-6 then
            failwith $"{gen} τ {tau}: accuracy {r.AccuracyMean} / novelty {r.NoveltyRatio} <> the command's {name} row {acc} / {nov}"
    | None -> ()
    rows.Add(String.concat "," [ $"\"{gen}\""; inv tau; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.AccuracyMin; inv r.Bma.Accuracy
                                 inv r.CrossEntropy; inv r.CalibratedCrossEntropy; opt r.Diversity; opt r.NoveltyRatio; opt r.Fidelity
                                 opt r.FidelityFloor; opt r.NearestTrainingMedian; inv z.Novelty.HeldOutMedian; inv r.Seconds ])
    Report.writeText rowsPath (String.concat "\n" (rowsHeader :: List.ofSeq rows) + "\n")
    for i in 0 .. accT.Length - 1 do samples.Add($"\"{gen}\",{inv tau},{i},{inv accT[i]},{inv accV[i]},{inv dist[i]}")
    Report.writeText samplesPath (String.concat "\n" ("generator,tau,sample,acc_test,acc_valid,nearest" :: List.ofSeq samples) + "\n")
    settle ()
    log $"{gen} τ {tau}: test accuracy {f4 r.AccuracyMean} ± {f4 r.AccuracyStd}, BMA16 {f4 r.Bma.Accuracy}, CE cal {f4 r.CalibratedCrossEntropy}, novelty {opt r.NoveltyRatio}; validation accuracy {f4 (Array.average accV)}"

// the widths' samples as the command drew them (τ 1)
for f in c.Flows do
    let _, theta, _ = Sampling.load (MainJob.samplesPath c f)
    if theta.shape[0] <> int64 c.Sampling.Count then failwith $"{f.Name}: {theta.shape[0]} samples, not {c.Sampling.Count} (a non-finite sample was dropped; the pairing needs all)"
    measure $"d {fst (VelocityConfig.size f.Training.Model)}" 1.0 (Some f.Name) theta
    theta.Dispose()

// the prior alone at each τ: the first width's prior draws (the control's x0) tempered, zero velocity
for tau in gridP do
    let s = { MainJobConfig.samplingOf c first with Temperature = tau; Rule = VelocityRule.PriorOnly }
    let res = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    if res.NonFinite.Length > 0 then failwith $"{res.NonFinite.Length} non-finite prior draws at τ {tau}"
    measure "P" tau (if tau = 1.0 then Some ReproduceScaling.PriorAloneName else None) res.Theta
    res.Theta.Dispose()
log "done"
