// The neuron-row term with the full-covariance prior at the full preset's budget (issue 13; docs/mnist/rowfull.md,
// criterion pre-stated there): `reproduce mnist --preset full`'s first flow with `NeuronRows = SharedLowRank ROWS`,
// trained and sampled by the main job's own stages in OUT (a copy of the cached full-preset folder, so the no-row
// flow and its samples are read back), then R (row term), N (no row term) and P (the prior alone, zero velocity,
// the same x0) evaluated in one process by the main job's evaluation at τ 1 and τ 0.7 (32 samples, 100 Euler steps),
// and the loss per t bucket of R and N beside the zoo mean and the Gaussian-linear predictor on the same draws.
//
//   OUT=results/rowfull ROWS=32 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/rowfull-run.fsx
// OUT needs the full preset's zoo-mnist-aligned.safetensors, flow/samples of the no-row flow and stages.json
// (copy /work/.../reproduce-mnist; the row flow's files are added there and recorded in stages.json).
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/rowfull"
let rank = int (env "ROWS" "32")
let taus = [ 1.0; 0.7 ]
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (load ()) s; Console.Out.Flush()
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

let r = ReproduceMnist.config Full 0L outDir
let c = r.Job
let noRow = c.Flows.Head
if noRow.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{noRow.Name}', not the full-covariance RT this script compares with"
let withRows =
    match noRow.Training.Model with
    | VelocityConfig.Rt rc ->
        { noRow with
            Name = $"Euclidean RT + rows r{rank} (aligned, full-covariance prior)"
            Training = { noRow.Training with Model = VelocityConfig.Rt { rc with NeuronRows = RelationalTransformer.SharedLowRank rank } } }
    | _ -> failwith "the full preset's first flow is not an RT"
log $"R: {withRows.Name}; {withRows.Training.Iterations} it x {withRows.Training.BatchSize}, lr {withRows.Training.LearningRate}, {c.Sampling.Count} samples x {c.Sampling.Steps} steps"

let aligned = Zoo.load (MainJob.alignedPath c)
let progress (p: MainJobProgress) =
    if p.Stage = TrainFlow withRows.Name && (p.Done % 50 = 0 || p.Done = p.Total) then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let flowR, trainSeconds, finalLoss, reusedR = MainJob.trainFlow c aligned aligned withRows progress CancellationToken.None
log $"R trained (reused {reusedR}): final loss {finalLoss:F4}, wall {trainSeconds}"
let flowN, _, finalLossN, reusedN = MainJob.trainFlow c aligned aligned noRow ignore CancellationToken.None
if not reusedN then failwith "the no-row flow was retrained: OUT is not a copy of the cached full-preset folder"
log $"N read back: final loss {finalLossN:F4}"

// samples: R and N at τ 1 through the main job's stage (N's are the cached ones); τ 0.7 and P sampled here
let thetaR, _, droppedR, _ = MainJob.sampleFlow c withRows flowR ignore
let thetaN, _, droppedN, reusedSN = MainJob.sampleFlow c noRow flowN ignore
if not reusedSN then failwith "the no-row flow's samples were redrawn: OUT is not a copy of the cached folder"
log $"samples τ 1: R {thetaR.shape[0]} ({droppedR} dropped), N {thetaN.shape[0]} ({droppedN} dropped)"
let sampleAt (flow: Flow) (rule: VelocityRule) (tau: float) =
    let s = { MainJobConfig.samplingOf c noRow with Rule = rule; Temperature = tau }
    let res = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    if res.NonFinite.Length > 0 then log $"{res.NonFinite.Length} non-finite samples dropped"
    res.Theta
let samples =
    [ for tau in taus do
        yield "R", tau, (if tau = 1.0 then thetaR else sampleAt flowR VelocityRule.Conditional tau)
        yield "N", tau, (if tau = 1.0 then thetaN else sampleAt flowN VelocityRule.Conditional tau)
        // the prior alone: N's prior draws (the same fit and seed as R's) with zero velocity
        yield "P", tau, sampleAt flowN VelocityRule.PriorOnly tau ]
log "sampled"

// the main job's evaluation (MainJob.evaluate's raw space): held-out halves, calibration, BMA, novelty, fidelity
let data = Sources.load c.Task c.Zoo.Seed
let h0 = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data aligned h0
pool.Dispose()
log "evaluation context ready"
let names = dict [ "R", withRows.Name; "N", noRow.Name; "P", "prior alone (no flow)" ]
let rows =
    [ for key, tau, theta in samples ->
        let row = Evaluation.evaluate ctx $"{names[key]} τ {inv tau}" theta
        log $"{key} τ {tau}: acc {row.AccuracyMean:F4} ± {row.AccuracyStd:F4} (min {row.AccuracyMin:F4}), BMA{row.Bma.K} {row.Bma.Accuracy:F4}, CE cal {row.CalibratedCrossEntropy:F4}, novelty {row.NoveltyRatio}, fidelity {row.Fidelity}"
        key, tau, row ]

// loss per t bucket in the prior's standardized coordinates z = (θ − μ)/s: 5 buckets x 64 pairs (training targets,
// fresh prior draws, t uniform in the bucket, the flow's path), every predictor on the same draws
let buckets, perBucket = 5, 64
let toZ, _ = (Prior.standardize flowN.Prior (Flow.layout flowN)).Value
let predictors : (string * (Tensor -> Tensor -> Tensor -> Tensor)) list =
    [ "R", (fun t xt _ -> toZ (Flow.predict flowR t xt))
      "N", (fun t xt _ -> toZ (Flow.predict flowN t xt))
      "zoo mean", (fun _ _ zt -> torch.zeros_like zt)
      // optimal when prior and targets are the same Gaussian (Prior.fs): ẑ1 = t/((1 − t)² + t²)·z_t
      "Gaussian-linear", (fun t _ zt -> (t / ((1.0 - t).pow(Scalar.op_Implicit 2.0) + t.pow(Scalar.op_Implicit 2.0))).unsqueeze(1L) * zt) ]
let byT = Array2D.zeroCreate<float> predictors.Length buckets
(use gen = Scope.Rng.create 1L
 use _ = torch.no_grad ()
 for k in 0 .. buckets - 1 do
    Scope.value (fun () ->
        let idx = torch.randint(h.Train.shape[0], [| int64 perBucket |], generator = gen)
        let x1 = h.Train.index_select(0L, idx)
        let x0 = Flow.samplePrior flowN gen torch.CPU perBucket
        let t = (torch.rand([| int64 perBucket |], generator = gen) + float k) / float buckets
        let xt = WeightFlow.Path.sample flowN.Space.Path gen x0 x1 t
        let zt, z1 = toZ xt, toZ x1
        predictors |> List.iteri (fun i (_, p) -> byT[i, k] <- (p t xt zt - z1).pow(Scalar.op_Implicit 2.0).mean().ToDouble())))
log "loss per t bucket done"

let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)
let opt (x: float option) = x |> Option.map f4 |> Option.defaultValue "–"
printfn "\n| row | τ | accuracy mean ± std (min) | BMA16 | CE calibrated | CE raw | diversity | novelty | fidelity (floor) |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for key, tau, row in rows do
    printfn "| %s | %s | %s ± %s (%s) | %s | %s | %s | %s | %s | %s (%s) |" row.Name (inv tau) (f4 row.AccuracyMean) (f4 row.AccuracyStd) (f4 row.AccuracyMin)
        (f4 row.Bma.Accuracy) (f4 row.CalibratedCrossEntropy) (f4 row.CrossEntropy) (opt row.Diversity) (opt row.NoveltyRatio) (opt row.Fidelity) (opt row.FidelityFloor)
printfn "\n| predictor | [0,.2) | [.2,.4) | [.4,.6) | [.6,.8) | [.8,1] |"
printfn "| --- | --- | --- | --- | --- | --- |"
predictors |> List.iteri (fun i (n, _) -> printfn "| %s | %s |" n (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 byT[i, k] ]))

// the pre-stated rule (docs/mnist/rowfull.md), τ 1
let at key = rows |> List.find (fun (k, t, _) -> k = key && t = 1.0) |> fun (_, _, r) -> r
let rR, rN, rP = at "R", at "N", at "P"
let se (a: Evaluation.Row) (b: Evaluation.Row) = sqrt (a.AccuracyStd ** 2.0 / float a.Count + b.AccuracyStd ** 2.0 / float b.Count)
let gap (a: Evaluation.Row) (b: Evaluation.Row) = a.AccuracyMean - b.AccuracyMean
let checks =
    [ $"acc(R) − acc(N) = {f4 (gap rR rN)} ≥ 2 SE = {f4 (2.0 * se rR rN)}", gap rR rN >= 2.0 * se rR rN
      $"acc(R) − acc(P) = {f4 (gap rR rP)} ≥ 2 SE = {f4 (2.0 * se rR rP)}", gap rR rP >= 2.0 * se rR rP
      $"BMA16(R) = {f4 rR.Bma.Accuracy} ≥ 0.90", rR.Bma.Accuracy >= 0.90
      $"novelty(R) = {opt rR.NoveltyRatio} ≥ 0.5", (rR.NoveltyRatio |> Option.exists (fun n -> n >= 0.5))
      $"fidelity(R) = {opt rR.Fidelity} ≤ fidelity(N) + 0.014 = {opt (rN.Fidelity |> Option.map ((+) 0.014))}",
      (match rR.Fidelity, rN.Fidelity with Some a, Some b -> a <= b + 0.014 | _ -> false) ]
printfn ""
for text, ok in checks do printfn "- %s: %s" text (if ok then "holds" else "fails")
printfn "ADOPT: %b" (checks |> List.forall snd)
let csv = IO.Path.Combine(outDir, "rowfull.csv")
Report.writeText csv
    (String.concat "\n"
        ("row,tau,count,acc_mean,acc_std,acc_min,bma16,ce_calibrated,ce_raw,diversity,novelty,fidelity,fidelity_floor"
         :: [ for _, tau, row in rows ->
                String.concat "," [ $"\"{row.Name}\""; inv tau; string row.Count; inv row.AccuracyMean; inv row.AccuracyStd; inv row.AccuracyMin; inv row.Bma.Accuracy
                                    inv row.CalibratedCrossEntropy; inv row.CrossEntropy; opt row.Diversity; opt row.NoveltyRatio; opt row.Fidelity; opt row.FidelityFloor ] ]
         @ [ "" ; "predictor,t0,t1,t2,t3,t4" ]
         @ [ for i, (n, _) in List.indexed predictors -> String.concat "," (n :: [ for k in 0 .. buckets - 1 -> inv byT[i, k] ]) ]))
log $"wrote {csv}"
