// Longer training of the full preset's RT, resumed (issue 13; docs/mnist/longrt.md, criterion pre-stated there):
// `reproduce mnist --preset full`'s first flow N (800 steps, read back from OUT, a copy of the cached full-preset
// folder) resumed for ADDED more steps by the library's own training loop (Training.train) from a checkpoint this
// script writes with N's weights (model = EMA = N's, EMA count 800, fresh Adam, a new WarmupCosine 100 over the added
// steps at the preset's lr, minibatches from seed 1); the loss per t bucket (as scripts/rowfull-run.fsx: 5 buckets x
// 64 pairs, seed 1, standardized coordinates) at 800 (N), at every resumed checkpoint and at the end (L), beside the
// Gaussian-linear predictor with paired standard errors; then L, N and P (the prior alone, zero velocity, the same
// x0) sampled (32 x 100 Euler steps, seed 0) and evaluated in one process by the main job's evaluation at τ 1 and 0.7.
//
//   OUT=results/longrt ADDED=1600 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/longrt-run.fsx
// OUT needs the full preset's zoo-mnist-aligned.safetensors, the no-row flow and its samples and stages.json
// (copy /work/.../reproduce-mnist); the resumed checkpoint, flow and longrt.csv are written there.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/longrt"
let added = int (env "ADDED" "1600")
let every = int (env "MEASURE_EVERY" "800")
let taus = [ 1.0; 0.7 ]
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (load ()) s; Console.Out.Flush()
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)

let r = ReproduceMnist.config Full 0L outDir
let c = r.Job
let noRow = c.Flows.Head
if noRow.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{noRow.Name}', not the full-covariance RT this script resumes"
let aligned = Zoo.load (MainJob.alignedPath c)
let flowN, _, finalLossN, reusedN = MainJob.trainFlow c aligned aligned noRow ignore CancellationToken.None
if not reusedN then failwith "the no-row flow was retrained: OUT is not a copy of the cached full-preset folder"
let thetaN, _, droppedN, reusedSN = MainJob.sampleFlow c noRow flowN ignore
if not reusedSN then failwith "the no-row flow's samples were redrawn: OUT is not a copy of the cached folder"
let stepsN = noRow.Training.Iterations
log $"N read back: {stepsN} steps, final loss {finalLossN:F4}, {thetaN.shape[0]} samples ({droppedN} dropped)"

// the main job's evaluation context (MainJob.evaluate's raw space); its training split is also the training targets
let data = Sources.load c.Task c.Zoo.Seed
let h0 = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data aligned h0
pool.Dispose()
log "evaluation context ready"

// loss per t bucket, rowfull's draws: 5 buckets x 64 pairs (training targets, fresh prior draws, t uniform in the
// bucket, the flow's path), generator seed 1 in rowfull's order, kept so every predictor meets the same pairs;
// per-pair endpoint loss in the prior's standardized coordinates z = (θ − μ)/s
let buckets, perBucket = 5, 64
let toZ, _ = (Prior.standardize flowN.Prior (Flow.layout flowN)).Value
let draws =
    use gen = Scope.Rng.create 1L
    use _ = torch.no_grad ()
    [| for k in 0 .. buckets - 1 ->
        let idx = torch.randint(h.Train.shape[0], [| int64 perBucket |], generator = gen)
        let x1 = h.Train.index_select(0L, idx)
        let x0 = Flow.samplePrior flowN gen torch.CPU perBucket
        let t = (torch.rand([| int64 perBucket |], generator = gen) + float k) / float buckets
        let xt = WeightFlow.Path.sample flowN.Space.Path gen x0 x1 t
        t, xt, toZ xt, toZ x1 |]
let perPair (predict: Tensor -> Tensor -> Tensor -> Tensor) : float[][] =
    use _ = torch.no_grad ()
    [| for t, xt, zt, z1 in draws ->
        Scope.value (fun () -> (predict t xt zt - z1).pow(Scalar.op_Implicit 2.0).mean([| 1L |]).data<float32>().ToArray() |> Array.map float) |]
let ofFlow (flow: Flow) = perPair (fun t xt _ -> toZ (Flow.predict flow t xt))
// optimal when prior and targets are the same Gaussian (Prior.fs): ẑ1 = t/((1 − t)² + t²)·z_t
let gaussLinear = perPair (fun t _ zt -> (t / ((1.0 - t).pow(Scalar.op_Implicit 2.0) + t.pow(Scalar.op_Implicit 2.0))).unsqueeze(1L) * zt)
let zooMean = perPair (fun _ _ zt -> torch.zeros_like zt)
let mean (a: float[]) = Array.average a
let cellsText (xs: string list) = String.concat " | " xs
// paired SE of a predictor's per-pair loss minus the Gaussian-linear one's (Bessel std / √64)
let pairedSe (a: float[]) (b: float[]) =
    let d = Array.map2 (-) a b
    let m = mean d
    sqrt ((d |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (d.Length - 1) / float d.Length)
let measured = Collections.Generic.List<string * float[][]>()
let report (name: string) (losses: float[][]) =
    measured.Add((name, losses))
    let cells = [ for k in 0 .. buckets - 1 -> $"{f4 (mean losses[k])} ({(mean losses[k] - mean gaussLinear[k]) / pairedSe losses[k] gaussLinear[k]:F1} SE)" ]
    log $"loss per t bucket, {name}: {cellsText cells}"
log $"loss per t bucket, Gaussian-linear: {cellsText [ for k in 0 .. buckets - 1 -> f4 (mean gaussLinear[k]) ]}"
log $"loss per t bucket, zoo mean: {cellsText [ for k in 0 .. buckets - 1 -> f4 (mean zooMean[k]) ]}"
report $"N ({stepsN} steps)" (ofFlow flowN)

// the resumed run: N's training settings with the added steps, a new warm-up + cosine over them, minibatches from
// seed 1, a checkpoint every `every` steps; its state file starts as N's weights (model and EMA), the EMA's count
// at N's steps (the average continues at its full decay), fresh Adam moments (N's checkpoint was deleted when the
// main job finished it)
let cL = { noRow.Training with Iterations = added; Schedule = WarmupCosine 100; Seed = 1L; CheckpointEvery = every }
let layout = aligned.Layout
let ckpt = Path.Combine(outDir, $"longrt-resume-{added}.checkpoint")
if not (File.Exists ckpt) then
    use g0 = Scope.Rng.create 0L
    let model = VelocityModel.init g0 torch.CPU cL.Model layout
    (use _ = torch.no_grad ()
     for (n, p), (m, q) in List.zip model.Parameters flowN.Model.Parameters do
        if n <> m then failwith $"parameter {n} vs {m}: the resumed model is not N's configuration"
        p.copy_(q) |> ignore)
    let ema = Ema.create cL.EmaDecay torch.CPU model
    ema.Updates <- stepsN
    let opt = Optim.create (Optim.adam cL.LearningRate) model.Parameters
    use gen = Scope.Rng.create (Scope.Rng.derive cL.Seed 2L)
    // the identity Training.train computes: its config after fitting the prior (a Fitted centre), as N's flow has it
    Checkpoint.save (Training.checkpointFile ckpt { cL with Prior = flowN.Prior } layout) { flowN with Model = ema.Model } model ema opt gen []
    Optim.dispose opt
    log $"wrote the resume state {ckpt}"
else log $"resuming from the existing {ckpt}"
let cpu0 = cpu ()
let progress (p: TrainingProgress) =
    if p.Step % 100 = 0 || p.Step = p.Total then log $"resumed step {p.Step}/{p.Total} (total {stepsN + p.Step}) loss {p.Loss:F4} {p.IterationsPerSecond:F2} it/s"
    // the checkpoint of step k is saved after step k's progress call: read it at k + 1
    if p.Step > 1 && (p.Step - 1) % every = 0 && p.Step - 1 < p.Total then
        let f = Flow.load torch.CPU ckpt
        report $"{stepsN + p.Step - 1} steps (resumed checkpoint, EMA)" (ofFlow f)
let result = Training.train cL layout h.Train (Some ckpt) progress CancellationToken.None
if result.Outcome <> Completed then failwith $"the resumed training ended {result.Outcome}"
let trainCpu = cpu () - cpu0
let lossesL = result.Losses
let tail = lossesL |> Array.skip (max 0 (lossesL.Length - 50)) |> Array.average
log $"L trained: {added} resumed steps, {result.Seconds:F0} s wall, {trainCpu:F0} CPU s (process clock), final loss (last 50) {tail:F4} (N: {finalLossN:F4}); first 50 resumed steps' mean {Array.average lossesL.[0..49]:F4}"
// the refitted prior must be N's (a pure function of the targets); sampling uses N's so x0 are rowfull's draws
let priorDiff =
    match Prior.fitted result.Flow.Prior, Prior.fitted flowN.Prior with
    | Some a, Some b ->
        let d (x: Tensor) (y: Tensor) = (x - y).abs().max().ToDouble()
        let cov = match a.Covariance, b.Covariance with Some p, Some q -> max (d p.Factor q.Factor) (d p.Residual q.Residual) | _ -> nan
        max (max (d a.Mean b.Mean) (d a.Std b.Std)) cov
    | _ -> nan
log $"refitted prior vs N's: max |difference| {priorDiff}"
let flowL = { result.Flow with Prior = flowN.Prior }
Flow.save (Path.Combine(outDir, $"flow-longrt-{stepsN + added}.safetensors")) flowL
report $"L ({stepsN + added} steps)" (ofFlow flowL)

// samples: N's τ 1 samples are the cached ones; everything else sampled here from the same 32 prior draws
let sampleAt (flow: Flow) (rule: VelocityRule) (tau: float) =
    let s = { MainJobConfig.samplingOf c noRow with Rule = rule; Temperature = tau }
    let res = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    if res.NonFinite.Length > 0 then log $"{res.NonFinite.Length} non-finite samples dropped"
    res.Theta
let names = dict [ "L", $"RT resumed to {stepsN + added} steps"; "N", $"RT, {stepsN} steps (Table 7.2)"; "P", "prior alone (no flow)" ]
let rows =
    [ for tau in taus do
        for key in [ "L"; "N"; "P" ] do
            let theta =
                match key with
                | "L" -> sampleAt flowL VelocityRule.Conditional tau
                | "N" -> if tau = 1.0 then thetaN else sampleAt flowN VelocityRule.Conditional tau
                | _ -> sampleAt flowN VelocityRule.PriorOnly tau
            let row = Evaluation.evaluate ctx $"{names[key]} τ {inv tau}" theta
            log $"{key} τ {tau}: acc {row.AccuracyMean:F4} ± {row.AccuracyStd:F4} (min {row.AccuracyMin:F4}), BMA{row.Bma.K} {row.Bma.Accuracy:F4}, CE cal {row.CalibratedCrossEntropy:F4}, novelty {row.NoveltyRatio}, fidelity {row.Fidelity}"
            yield key, tau, row ]

let opt (x: float option) = x |> Option.map f4 |> Option.defaultValue "–"
printfn "\n| row | τ | accuracy mean ± std (min) | BMA16 | CE calibrated | CE raw | diversity | novelty | fidelity (floor) |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for _, tau, row in rows do
    printfn "| %s | %s | %s ± %s (%s) | %s | %s | %s | %s | %s | %s (%s) |" row.Name (inv tau) (f4 row.AccuracyMean) (f4 row.AccuracyStd) (f4 row.AccuracyMin)
        (f4 row.Bma.Accuracy) (f4 row.CalibratedCrossEntropy) (f4 row.CrossEntropy) (opt row.Diversity) (opt row.NoveltyRatio) (opt row.Fidelity) (opt row.FidelityFloor)
printfn "\n| predictor | [0,.2) | [.2,.4) | [.4,.6) | [.6,.8) | [.8,1] |"
printfn "| --- | --- | --- | --- | --- | --- |"
for n, l in measured do
    printfn "| %s | %s |" n (String.concat " | " [ for k in 0 .. buckets - 1 -> $"{f4 (mean l[k])} ({(mean l[k] - mean gaussLinear[k]) / pairedSe l[k] gaussLinear[k]:F1} SE)" ])
printfn "| Gaussian-linear | %s |" (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 (mean gaussLinear[k]) ])
printfn "| zoo mean | %s |" (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 (mean zooMean[k]) ])

// the pre-stated reading and rule (docs/mnist/longrt.md)
let _, lossL = measured |> Seq.last
let past z = [ for k in 0 .. 3 do if mean lossL[k] - mean gaussLinear[k] < -z * pairedSe lossL[k] gaussLinear[k] then yield k ]
printfn "\nlearns past the linear line (some bucket below t = 0.8 under it by > 1 SE): %b (buckets %A; at 2 SE: %A)" (not (past 1.0).IsEmpty) (past 1.0) (past 2.0)
let at key tau = rows |> List.find (fun (k, t, _) -> k = key && t = tau) |> fun (_, _, r) -> r
let rL, rN, rP = at "L" 1.0, at "N" 1.0, at "P" 1.0
let pLow = at "P" 0.7
let se (a: Evaluation.Row) (b: Evaluation.Row) = sqrt (a.AccuracyStd ** 2.0 / float a.Count + b.AccuracyStd ** 2.0 / float b.Count)
let gap (a: Evaluation.Row) (b: Evaluation.Row) = a.AccuracyMean - b.AccuracyMean
// the prior's τ line through P(τ 1) and P(τ 0.7) in (novelty, accuracy)
let line (nov: float) =
    let n1, n0 = rP.NoveltyRatio.Value, pLow.NoveltyRatio.Value
    pLow.AccuracyMean + (rP.AccuracyMean - pLow.AccuracyMean) * (nov - n0) / (n1 - n0)
for key in [ "L"; "N" ] do
    let row = at key 1.0
    let above = row.AccuracyMean - line row.NoveltyRatio.Value
    let seRow = row.AccuracyStd / sqrt (float row.Count)
    printfn "%s τ 1 vs the prior's τ line at novelty %s: %s above (%.1f SE); off the line (≥ 2 SE): %b" key (opt row.NoveltyRatio) (f4 above) (above / seRow) (above >= 2.0 * seRow)
let checks =
    [ $"acc(L) − acc(N) = {f4 (gap rL rN)} ≥ 2 SE = {f4 (2.0 * se rL rN)}", gap rL rN >= 2.0 * se rL rN
      $"acc(L) − acc(P) = {f4 (gap rL rP)} ≥ 2 SE = {f4 (2.0 * se rL rP)}", gap rL rP >= 2.0 * se rL rP
      $"BMA16(L) = {f4 rL.Bma.Accuracy} ≥ 0.90", rL.Bma.Accuracy >= 0.90
      $"novelty(L) = {opt rL.NoveltyRatio} ≥ 0.5", (rL.NoveltyRatio |> Option.exists (fun n -> n >= 0.5))
      $"fidelity(L) = {opt rL.Fidelity} ≤ fidelity(N) + 0.014 = {opt (rN.Fidelity |> Option.map ((+) 0.014))}",
      (match rL.Fidelity, rN.Fidelity with Some a, Some b -> a <= b + 0.014 | _ -> false) ]
printfn ""
for text, ok in checks do printfn "- %s: %s" text (if ok then "holds" else "fails")
printfn "rules 1-4 hold: %b (rule 5, the preset's budget, is judged in longrt.md)" (checks |> List.forall snd)
let csv = Path.Combine(outDir, "longrt.csv")
Report.writeText csv
    (String.concat "\n"
        ("row,tau,count,acc_mean,acc_std,acc_min,bma16,ce_calibrated,ce_raw,diversity,novelty,fidelity,fidelity_floor"
         :: [ for _, tau, row in rows ->
                String.concat "," [ $"\"{row.Name}\""; inv tau; string row.Count; inv row.AccuracyMean; inv row.AccuracyStd; inv row.AccuracyMin; inv row.Bma.Accuracy
                                    inv row.CalibratedCrossEntropy; inv row.CrossEntropy; opt row.Diversity; opt row.NoveltyRatio; opt row.Fidelity; opt row.FidelityFloor ] ]
         @ [ ""; "predictor,bucket,loss_mean,minus_gaussian_linear,paired_se" ]
         @ [ for n, l in Seq.append measured [ "Gaussian-linear", gaussLinear; "zoo mean", zooMean ] do
                for k in 0 .. buckets - 1 ->
                    String.concat "," [ $"\"{n}\""; string k; inv (mean l[k]); inv (mean l[k] - mean gaussLinear[k]); inv (pairedSe l[k] gaussLinear[k]) ] ]
         @ [ ""; "resumed_step,loss" ]
         @ [ for i, l in Array.indexed lossesL -> $"{stepsN + i + 1},{inv l}" ]))
log $"wrote {csv}"
