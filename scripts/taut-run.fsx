// Issue 13, docs/mnist/taut.md (criterion committed before this ran): N6 = the full preset's RT flow N trained with its
// x0 drawn from the prior at τ_train 0.6 (TrainingConfig.PriorTemperature; nothing else changed), sampled at τ 0.6,
// 0.5, 0.7 and scored as scripts/frontier-run.fsx scores N (rows + per-sample CSVs for scripts/frontier-judge.fsx).
// Zoo and alignment are read back from OUT (copy the frontier run's one-thread zoo files there) or retrained.
//
//   OUT=results/taut WEIGHTFLOW_THREADS=1 dotnet fsi scripts/taut-run.fsx
// Writes (after every row) OUT/frontier-rows.csv, OUT/frontier-samples.csv (generator "N6").
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/taut"
Directory.CreateDirectory outDir |> ignore
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
let progress (p: MainJobProgress) = if p.Done % 200 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let settle () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect()

// the grids of frontier.md, in the order measured (a cut drops N's τ 0.9, 0.7, 0.5 first: they come last)
let gridN = [ 0.6; 0.5; 0.7 ]
let tauTrain = float (env "TAU_TRAIN" "0.6")

// zoo, alignment and N: the main job's stages (scripts/heldout-train.fsx)
let c = (ReproduceMnist.config Full 0L outDir).Job
let n0 = c.Flows.Head
if n0.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{n0.Name}'"
// the one change (taut.md): the training x0's temperature; a name of its own keeps N's file and stage apart
let n = { n0 with Name = $"{n0.Name} tau-train {tauTrain}"; Training = { n0.Training with PriorTemperature = tauTrain } }
log $"threads {torch.get_num_threads ()}"
let zoo, _, _ = MainJob.trainZoo c progress CancellationToken.None
let aligned, _, _ = MainJob.alignZoo c zoo progress
let flow, _, loss, reused = MainJob.trainFlow c zoo aligned n progress CancellationToken.None
log $"N6 (τ_train {tauTrain}) trained (reused {reused}): final loss (last 50) {loss:F4}"
settle ()

// the evaluation context of Table 7.2 (test digits), as MainJob's stage 7 builds it
let data = Sources.load c.Task c.Zoo.Seed
let h = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, hs, pool = Evaluation.ofHoldout c.Evaluation id data aligned h
let z = match ctx.Zoo with Some z -> z | None -> failwith "no zoo reference in the context"
log $"context: training {data.Train.Y.shape[0]}, validation {data.Valid.Y.shape[0]}, test {data.Test.Y.shape[0]} digits; judge median distance {z.Novelty.HeldOutMedian}"

let rowsPath, samplesPath = Path.Combine(outDir, "frontier-rows.csv"), Path.Combine(outDir, "frontier-samples.csv")
let rowsHeader = "generator,tau,count,acc_mean,acc_std,acc_min,bma16,ce_raw,ce_calibrated,diversity,novelty,fidelity,fidelity_floor,nearest_median,judge_median,eval_seconds"
let rows = Collections.Generic.List<string>()
let samples = Collections.Generic.List<string>()
let opt (x: float option) = x |> Option.map inv |> Option.defaultValue ""
let addRow (gen: string) (tau: string) (r: Evaluation.Row) =
    rows.Add(String.concat "," [ $"\"{gen}\""; tau; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.AccuracyMin; inv r.Bma.Accuracy
                                 inv r.CrossEntropy; inv r.CalibratedCrossEntropy; opt r.Diversity; opt r.NoveltyRatio; opt r.Fidelity
                                 opt r.FidelityFloor; opt r.NearestTrainingMedian; inv z.Novelty.HeldOutMedian; inv r.Seconds ])
    Report.writeText rowsPath (String.concat "\n" (rowsHeader :: List.ofSeq rows) + "\n")

pool.Dispose()
settle ()

let draw (rule: VelocityRule option) (tau: float) : Tensor =
    let s = { MainJobConfig.samplingOf c n with Temperature = tau }
    let s = match rule with Some r -> { s with Rule = r } | None -> s
    let r = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    if r.NonFinite.Length > 0 then failwith $"{r.NonFinite.Length} non-finite samples at τ {tau}: the pairing needs all 32"
    r.Theta

/// One (generator, τ): the main job's row plus per-sample test / validation accuracy and nearest-training distance,
/// with frontier.md's two consistency checks (1e-6).
let measure (gen: string) (rule: VelocityRule option) (tau: float) =
    let theta = draw rule tau
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
    theta.Dispose()
    addRow gen (inv tau) r
    for i in 0 .. accT.Length - 1 do samples.Add($"\"{gen}\",{inv tau},{i},{inv accT[i]},{inv accV[i]},{inv dist[i]}")
    Report.writeText samplesPath (String.concat "\n" ("generator,tau,sample,acc_test,acc_valid,nearest" :: List.ofSeq samples) + "\n")
    settle ()
    log $"{gen} τ {tau}: test accuracy {f4 r.AccuracyMean} ± {f4 r.AccuracyStd}, BMA16 {f4 r.Bma.Accuracy}, CE cal {f4 r.CalibratedCrossEntropy}, novelty {opt r.NoveltyRatio}, fidelity {opt r.Fidelity}; validation accuracy {f4 (Array.average accV)}"

for tau in gridN do measure "N6" None tau
log "done"
