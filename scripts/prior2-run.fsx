// Issue 13, docs/mnist/prior2.md (criterion committed before this ran): the prior P' = N's full-covariance prior with
// its residual diagonal raised to the out-of-span variance that left-out *training* runs show
// (Prior.leaveRunsOutResidual, 5 folds by run mod 5, runs 0-44 only; Prior.withResidualFloor), the flow N' (N's
// recipe from P', trained by the main job's stage beside N), then
// (1) the loss per t bucket of (a') zoo mean, (b') P''s Gaussian-linear line, (e') c(t) in P''s span / identity
//     outside, and N', on training and held-out pairs (heldout.md's protocol, in P''s standardized coordinates);
// (2) 32 samples of N', of P' alone (the same x0, no flow) and of N (read back), evaluated as Table 7.2;
// and the pre-stated verdict. Needs the cached zoo, alignment and N (scripts/heldout-train.fsx) in OUT.
//
//   OUT=results/heldout REPS=5 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/prior2-run.fsx
// Writes OUT/prior2-buckets.csv, OUT/prior2-samples.csv, OUT/prior2-floor.csv.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/heldout"
let reps = int (env "REPS" "5")
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (load ()) s; Console.Out.Flush()
let inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
let f4 (x: float) = x.ToString("0.0000", CultureInfo.InvariantCulture)

let c = (ReproduceMnist.config Full 0L outDir).Job
let n = c.Flows.Head
if n.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{n.Name}'"
let zoo, _, zr = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, ar = MainJob.alignZoo c zoo ignore
let flowN, _, _, nr = MainJob.trainFlow c zoo aligned n ignore CancellationToken.None
if not (zr && ar && nr) then failwith "run scripts/heldout-train.fsx first"
let h = Holdout.lastRuns c.HeldOutRuns aligned
let settings = match n.Training.Prior.Centre with FitFullToTargets f -> f | _ -> failwith "N's prior is not FitFullToTargets"
let g =
    match flowN.Prior.Centre with
    | Fitted ({ Covariance = Some _ } as g) -> g
    | _ -> failwith "N's flow has no full-covariance prior"

// the estimator: training runs only (h.Train never holds a held-out run)
let fold = h.TrainIndex |> Array.map (fun i -> aligned.Run[i] % 5)
if h.TrainIndex |> Array.exists (fun i -> Array.contains aligned.Run[i] h.HeldOutRuns) then failwith "a held-out run in the estimator's rows"
log $"estimator: {h.Train.shape[0]} training checkpoints, runs {h.TrainRuns[0]}-{Array.last h.TrainRuns}, folds %A{Array.countBy id fold |> Array.sort}"
let vbar = Prior.leaveRunsOutResidual settings aligned.Layout h.Train fold
let gP = Prior.withResidualFloor (vbar.sqrt()) g
let d2, v2 = (match g.Covariance with Some cv -> cv.Residual | None -> failwith "").to_type(torch.float64).pow(scalar 2.0), vbar.to_type(torch.float64)
let s2 = g.Std.to_type(torch.float64).pow(scalar 2.0)
let meanOf (t: Tensor) = t.mean().ToDouble()
let floorStats =
    [ "mean d^2 (N's residual variance)", meanOf d2
      "mean vbar (left-out runs' out-of-span variance)", meanOf v2
      "mean d^2 / Std^2", meanOf (d2 / s2)
      "mean vbar / Std^2", meanOf (v2 / s2)
      "fraction of parameters raised (vbar > d^2)", meanOf (v2.gt(d2).to_type(torch.float64))
      "mean Std'^2 / Std^2", meanOf (gP.Std.to_type(torch.float64).pow(scalar 2.0) / s2) ]
for k, v in floorStats do log $"{k}: {v:G6}"
Report.writeText (Path.Combine(outDir, "prior2-floor.csv")) (String.concat "\n" ("statistic,value" :: [ for k, v in floorStats -> $"\"{k}\",{inv v}" ]))

// N': N's recipe from P'
let n' = { n with Name = "Euclidean (aligned, leave-runs-out residual prior)"; Training = { n.Training with Prior = { n.Training.Prior with Centre = Fitted gP } } }
let progress (p: MainJobProgress) = if p.Done % 100 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let flowP, _, lossP, reusedP = MainJob.trainFlow c zoo aligned n' progress CancellationToken.None
log $"N' trained (reused {reusedP}): final loss (last 50) {lossP:F4}"

// (1) buckets
let buckets, perBucket = 5, 64
let toZ = fst (Prior.standardize flowP.Prior (Flow.layout flowP)).Value
let q =
    Scope.noGrad (fun () ->
        let cov = gP.Covariance.Value
        let struct (qq, _) = torch.linalg.qr((cov.Factor / gP.Std.unsqueeze(0L)).t().to_type(torch.float64))
        qq.to_type(torch.float32).DetachFromDisposeScope())
let gain (t: Tensor) = (t / ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0))).unsqueeze(1L)
let predictors : (string * (Tensor -> Tensor -> Tensor -> Tensor)) list =
    [ "(a') zoo mean", (fun _ _ zt -> torch.zeros_like zt)
      "(b') Gaussian-linear", (fun t _ zt -> gain t * zt)
      "(e') c(t) in the span, identity outside", (fun t _ zt -> let inside = zt.matmul(q).matmul(q.t()) in gain t * inside + (zt - inside))
      "N' RT", (fun t xt _ -> toZ (Flow.predict flowP t xt)) ]
let sets = [ "training", h.Train; "held-out", h.HeldOut ]
let losses = Collections.Generic.Dictionary<string * string, float[][]>()
for setName, targets in sets do
    let acc = predictors |> List.map (fun (p, _) -> p, Array.init buckets (fun _ -> ResizeArray<float>())) |> dict
    for r in 1 .. reps do
        let pairs = LossByTime.standardizedPairs flowP targets buckets perBucket (int64 r)
        for name, f in predictors do
            let l = LossByTime.perPairLoss pairs f
            for k in 0 .. buckets - 1 do (acc[name]).[k].AddRange(l.[k])
        for b in pairs do (for t in [ b.T; b.Xt; b.Zt; b.Z1 ] do t.Dispose())
        log $"{setName} replicate {r}/{reps} done"
    for name, _ in predictors do losses[(setName, name)] <- acc[name] |> Array.map (fun l -> l.ToArray())
let mean (a: float[]) = Array.average a
let se (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1) / float a.Length)
let bucketNames = [| "[0,.2)"; "[.2,.4)"; "[.4,.6)"; "[.6,.8)"; "[.8,1]" |]
let lossAt (s: string) (p: string) (k: int) : float[] = losses[(s, p)][k]
let diffVs (s: string) (p: string) (against: string) k = Array.map2 (-) (lossAt s p k) (lossAt s against k)
let B, E, R = "(b') Gaussian-linear", "(e') c(t) in the span, identity outside", "N' RT"
let zs (s: string) p against k = let d = diffVs s p against k in (mean d / se d).ToString("+0.0;-0.0", CultureInfo.InvariantCulture)
for setName, _ in sets do
    printfn "\n**%s pairs** (%d per bucket; in brackets (X − (b')) / paired SE)\n" setName (reps * perBucket)
    printfn "| predictor | %s |" (String.concat " | " bucketNames)
    printfn "| --- | --- | --- | --- | --- | --- |"
    for p, _ in predictors do
        printfn "| %s | %s |" p (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 (mean (lossAt setName p k)) + (if p = B then "" else " (" + zs setName p B k + ")") ])
    printfn "| N' − (e') (paired SE) | %s |" (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 (mean (diffVs setName R E k)) + " (" + zs setName R E k + ")" ])
let side s p k = let d = diffVs s p B k in if mean d < -2.0 * se d then "below" elif mean d > 2.0 * se d then "above" else "on"
let low = [ 0 .. 3 ]
let r1 = [ 0; 1 ] |> List.forall (fun k -> side "held-out" E k <> "below")
let r2 = (low |> List.exists (fun k -> side "held-out" R k = "below")) && (low |> List.forall (fun k -> side "held-out" R k <> "above"))
let r3 = low |> List.forall (fun k -> side "held-out" R k = "on")
let r4 = low |> List.filter (fun k -> side "held-out" R k = "above" && side "training" R k <> "above")
printfn "\nreadings (buckets below t = 0.8): R1 P' recalibrates the line: %b; R2 N' beyond its line on held-out: %b; R3 N' on its line on held-out: %b; R4 N' overfits in buckets %A" r1 r2 r3 (r4 |> List.map (fun k -> bucketNames[k]))
for k in low do printfn "  bucket %s: N' %s / %s, (e') %s / %s (training / held-out vs (b'))" bucketNames[k] (side "training" R k) (side "held-out" R k) (side "training" E k) (side "held-out" E k)
Report.writeText (Path.Combine(outDir, "prior2-buckets.csv"))
    (String.concat "\n"
        ("set,predictor,bucket,pairs,loss_mean,loss_se,minus_b,paired_se_vs_b,minus_e,paired_se_vs_e"
         :: [ for s, _ in sets do
                for p, _ in predictors do
                    for k in 0 .. buckets - 1 ->
                        let l, db, de = lossAt s p k, diffVs s p B k, diffVs s p E k
                        String.concat "," [ s; $"\"{p}\""; bucketNames[k]; string l.Length; inv (mean l); inv (se l); inv (mean db); (if p = B then "" else inv (se db)); inv (mean de); (if p = E then "" else inv (se de)) ] ]))
log "buckets written"

// (2) samples: N', P' alone (the same x0 draws, zero velocity), N (read back)
let thetaP, _, droppedP, _ = MainJob.sampleFlow c n' flowP progress
let thetaN, _, droppedN, reusedNs = MainJob.sampleFlow c n flowN progress
let sPrior = { MainJobConfig.samplingOf c n' with Rule = VelocityRule.PriorOnly }
let thetaPrior = Scope.noGrad (fun () -> (Sampling.sample sPrior ignore torch.CPU flowP).Theta)
log $"sampled: N' {thetaP.shape[0]} ({droppedP} dropped), N {thetaN.shape[0]} ({droppedN} dropped, reused {reusedNs}), P' alone {thetaPrior.shape[0]}"
let data = Sources.load c.Task c.Zoo.Seed
let ctx, _, pool = Evaluation.ofHoldout c.Evaluation id data aligned h
pool.Dispose()
let rows = [ for name, theta in [ n'.Name, thetaP; "P' alone (no flow)", thetaPrior; n.Name, thetaN ] -> Evaluation.evaluate ctx name theta ]
let opt (x: float option) = x |> Option.map f4 |> Option.defaultValue "–"
printfn "\n| row | accuracy mean ± std (min) | BMA16 | CE calibrated | diversity | novelty | fidelity (floor) |"
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for r in rows do
    printfn "| %s | %s ± %s (%s) | %s | %s | %s | %s | %s (%s) |" r.Name (f4 r.AccuracyMean) (f4 r.AccuracyStd) (f4 r.AccuracyMin) (f4 r.Bma.Accuracy)
        (f4 r.CalibratedCrossEntropy) (opt r.Diversity) (opt r.NoveltyRatio) (opt r.Fidelity) (opt r.FidelityFloor)
Report.writeText (Path.Combine(outDir, "prior2-samples.csv"))
    (String.concat "\n"
        ("row,count,acc_mean,acc_std,acc_min,bma16,ce_calibrated,diversity,novelty,fidelity,fidelity_floor"
         :: [ for r in rows ->
                String.concat "," [ $"\"{r.Name}\""; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.AccuracyMin; inv r.Bma.Accuracy
                                    inv r.CalibratedCrossEntropy; opt r.Diversity; opt r.NoveltyRatio; opt r.Fidelity; opt r.FidelityFloor ] ]))

// the pre-stated rule
let rP, rPrior, rN = rows[0], rows[1], rows[2]
let seS1 = sqrt (rP.AccuracyStd ** 2.0 / float rP.Count + rPrior.AccuracyStd ** 2.0 / float rPrior.Count)
let ok1 = rP.AccuracyMean - rPrior.AccuracyMean > 2.0 * seS1
let ok2 = rP.AccuracyMean >= rN.AccuracyMean && rP.Bma.Accuracy >= rN.Bma.Accuracy
let ok3 = rP.NoveltyRatio |> Option.exists (fun v -> v >= 0.5)
printfn "\nS1 flow adds over its prior: %b (N' − P' alone = %s, 2 SE = %s); S2 at least N: %b (accuracy %s vs %s, BMA16 %s vs %s); S3 novelty >= 0.5: %b (%s) => %s"
    ok1 (f4 (rP.AccuracyMean - rPrior.AccuracyMean)) (f4 (2.0 * seS1)) ok2 (f4 rP.AccuracyMean) (f4 rN.AccuracyMean) (f4 rP.Bma.Accuracy) (f4 rN.Bma.Accuracy) ok3 (opt rP.NoveltyRatio)
    (if ok1 && ok2 && ok3 then "ADOPTED" else "NOT ADOPTED")
log "done"
