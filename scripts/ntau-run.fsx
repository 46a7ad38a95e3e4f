// Issue 13, docs/mnist/ntau.md (criterion committed before this ran): N (the full preset's first flow) and N'
// (prior2's recipe: N's flow from P', N's prior with the leave-runs-out residual floor), each sampled at the τ in
// {0.6, ..., 1.0} with the best mean VALIDATION accuracy of 32 samples among the τs with novelty ratio >= 0.5; then,
// once, both at their τ on the test split (+ each prior alone at that τ), and the pre-stated verdict.
// Trains (or reads back from OUT) the zoo, alignment, N and N' through the main job's stages.
//
//   OUT=results/ntau WEIGHTFLOW_THREADS=2 dotnet fsi scripts/ntau-run.fsx
// Writes OUT/ntau-validation.csv, OUT/ntau-test.csv.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/ntau"
Directory.CreateDirectory outDir |> ignore
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (load ()) s; Console.Out.Flush()
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
let progress (p: MainJobProgress) = if p.Done % 200 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"

// the zoo, alignment and N: the main job's stages (as scripts/heldout-train.fsx)
let c = (ReproduceMnist.config Full 0L outDir).Job
let n = c.Flows.Head
if n.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{n.Name}'"
let zoo, _, _ = MainJob.trainZoo c progress CancellationToken.None
let aligned, _, _ = MainJob.alignZoo c zoo progress
let flowN, _, lossN, _ = MainJob.trainFlow c zoo aligned n progress CancellationToken.None
log $"N trained: final loss (last 50) {lossN:F4}"
let h = Holdout.lastRuns c.HeldOutRuns aligned
let settings = match n.Training.Prior.Centre with FitFullToTargets f -> f | _ -> failwith "N's prior is not FitFullToTargets"
let g = match flowN.Prior.Centre with Fitted ({ Covariance = Some _ } as g) -> g | _ -> failwith "N's flow has no full-covariance prior"

// P' and N' exactly as scripts/prior2-run.fsx (training runs only, 5 folds by run mod 5)
if h.TrainIndex |> Array.exists (fun i -> Array.contains aligned.Run[i] h.HeldOutRuns) then failwith "a held-out run in the estimator's rows"
let fold = h.TrainIndex |> Array.map (fun i -> aligned.Run[i] % 5)
let vbar = Prior.leaveRunsOutResidual settings aligned.Layout h.Train fold
let gP = Prior.withResidualFloor (vbar.sqrt()) g
let n' = { n with Name = "Euclidean (aligned, leave-runs-out residual prior)"; Training = { n.Training with Prior = { n.Training.Prior with Centre = Fitted gP } } }
let flowP, _, lossP, _ = MainJob.trainFlow c zoo aligned n' progress CancellationToken.None
log $"N' trained: final loss (last 50) {lossP:F4}"

// the evaluation contexts: test (Table 7.2's) and the same with the validation split as the scored split
let data = Sources.load c.Task c.Zoo.Seed
let ctx, _, pool = Evaluation.ofHoldout c.Evaluation id data aligned h
pool.Dispose()
let ctxV = { ctx with Data = { data with Test = data.Valid } }
log $"splits: training {data.Train.Y.shape[0]}, validation {data.Valid.Y.shape[0]}, test {data.Test.Y.shape[0]} digits"
let draw (f: FlowRun) (flow: Flow) (rule: VelocityRule option) (tau: float) : Tensor =
    let s = { MainJobConfig.samplingOf c f with Temperature = tau }
    let s = match rule with Some r -> { s with Rule = r } | None -> s
    let r = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    if r.NonFinite.Length > 0 then log $"  {r.NonFinite.Length} non-finite samples dropped"
    r.Theta
let opt (x: float option) = x |> Option.map f4 |> Option.defaultValue "–"
let nov (r: Evaluation.Row) = r.NoveltyRatio |> Option.defaultValue nan
let header = "flow,tau,count,acc_mean,acc_std,acc_min,bma16,ce_calibrated,diversity,novelty,fidelity"
let csvRow (name: string) (tau: float) (r: Evaluation.Row) =
    String.concat "," [ $"\"{name}\""; inv tau; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.AccuracyMin; inv r.Bma.Accuracy
                        inv r.CalibratedCrossEntropy; opt r.Diversity; opt r.NoveltyRatio; opt r.Fidelity ]
let show (name: string) (tau: float) (r: Evaluation.Row) =
    printfn "| %s | %s | %s ± %s (%s) | %s | %s | %s | %s | %s |" name (inv tau) (f4 r.AccuracyMean) (f4 r.AccuracyStd) (f4 r.AccuracyMin)
        (f4 r.Bma.Accuracy) (f4 r.CalibratedCrossEntropy) (opt r.Diversity) (opt r.NoveltyRatio) (opt r.Fidelity)
    Console.Out.Flush()

// selection on the validation digits
let grid = [ 0.6; 0.7; 0.8; 0.9; 1.0 ]
let flows = [ "N", n, flowN; "N'", n', flowP ]
let valRows =
    [ for label, f, flow in flows do
        for tau in grid ->
            let theta = draw f flow None tau
            let r = Evaluation.evaluate ctxV label theta
            theta.Dispose()
            log $"validation {label} τ {tau}: accuracy {f4 r.AccuracyMean} ± {f4 r.AccuracyStd}, novelty {opt r.NoveltyRatio}"
            label, tau, r ]
Report.writeText (Path.Combine(outDir, "ntau-validation.csv")) (String.concat "\n" (header :: [ for l, t, r in valRows -> csvRow l t r ]))
printfn "\n**Validation (1,000 digits; CE calibrated on training + validation, so partly in-sample: not used)**\n"
printfn "| flow | τ | accuracy mean ± std (min) | BMA16 | CE calibrated | diversity | novelty | fidelity |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- |"
for l, t, r in valRows do show l t r
let choose (label: string) =
    let rs = valRows |> List.filter (fun (l, _, _) -> l = label)
    match rs |> List.filter (fun (_, _, r) -> nov r >= 0.5) with
    | [] -> let _, t, _ = rs |> List.maxBy (fun (_, t, r) -> nov r, -abs (t - 1.0)) in t, "no τ with novelty >= 0.5: the most novel"
    | es -> let _, t, _ = es |> List.maxBy (fun (_, t, r) -> r.AccuracyMean, -abs (t - 1.0)) in t, "best validation accuracy with novelty >= 0.5"
let tauN, whyN = choose "N"
let tauP, whyP = choose "N'"
log $"SELECTED: τ_N = {tauN} ({whyN}); τ_N' = {tauP} ({whyP})"

// judgement on the test digits, once
let thN = draw n flowN None tauN
let thP = draw n' flowP None tauP
let thPriorN = draw n flowN (Some VelocityRule.PriorOnly) tauN
let thPriorP = draw n' flowP (Some VelocityRule.PriorOnly) tauP
let rN, rP = Evaluation.evaluate ctx "N" thN, Evaluation.evaluate ctx "N'" thP
let rPriorN, rPriorP = Evaluation.evaluate ctx "P alone" thPriorN, Evaluation.evaluate ctx "P' alone" thPriorP
let testRows = [ "N", tauN, rN; "N'", tauP, rP; "P alone (N's prior)", tauN, rPriorN; "P' alone", tauP, rPriorP ]
printfn "\n**Test (1,000 digits, Table 7.2's evaluation)**\n"
printfn "| row | τ | accuracy mean ± std (min) | BMA16 | CE calibrated | diversity | novelty | fidelity |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- |"
for l, t, r in testRows do show l t r
let se (a: Evaluation.Row) (b: Evaluation.Row) = sqrt (a.AccuracyStd ** 2.0 / float a.Count + b.AccuracyStd ** 2.0 / float b.Count)
let j1 = rP.AccuracyMean - rN.AccuracyMean > 2.0 * se rP rN
let j2 = rP.Bma.Accuracy >= rN.Bma.Accuracy - 0.01
let j3 = nov rP >= 0.5
printfn "\nJ1 N' − N = %s (2 SE = %s): %b; J2 BMA16 %s vs %s (N − 0.01 = %s): %b; J3 novelty %s >= 0.5: %b => %s"
    (f4 (rP.AccuracyMean - rN.AccuracyMean)) (f4 (2.0 * se rP rN)) j1 (f4 rP.Bma.Accuracy) (f4 rN.Bma.Accuracy) (f4 (rN.Bma.Accuracy - 0.01)) j2 (opt rP.NoveltyRatio) j3
    (if j1 && j2 && j3 then "N' ADOPTED" else "N' NOT ADOPTED")
printfn "F1 N − P = %s (2 SE = %s): %b; F2 N' − P' = %s (2 SE = %s): %b"
    (f4 (rN.AccuracyMean - rPriorN.AccuracyMean)) (f4 (2.0 * se rN rPriorN)) (rN.AccuracyMean - rPriorN.AccuracyMean > 2.0 * se rN rPriorN)
    (f4 (rP.AccuracyMean - rPriorP.AccuracyMean)) (f4 (2.0 * se rP rPriorP)) (rP.AccuracyMean - rPriorP.AccuracyMean > 2.0 * se rP rPriorP)
log "judgement printed"

// reproduction rows (not deciding): τ 1 on test, unless already the chosen τ
let repro =
    [ for label, f, flow in flows do
        let chosen = if label = "N" then tauN else tauP
        if chosen <> 1.0 then
            let theta = draw f flow None 1.0
            yield $"{label} (reproduction)", 1.0, Evaluation.evaluate ctx label theta ]
for l, t, r in repro do show l t r
Report.writeText (Path.Combine(outDir, "ntau-test.csv")) (String.concat "\n" (header :: [ for l, t, r in testRows @ repro -> csvRow l t r ]))
log "done"
