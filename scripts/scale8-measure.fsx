// Issue 13, docs/mnist/scale8.md (criterion committed before this ran): why the wider Euclidean RT samples worse.
//   D1: each width's endpoint loss per t bucket on training pairs (targets: runs 0-44's checkpoints) and held-out pairs
//       (runs 45-49), heldout-run.fsx's draws (5 buckets x REPS replicates x 64 pairs, generator seeds 1..REPS), in the
//       prior's standardized coordinates, beside the Gaussian-linear predictor (b) on the same pairs.
//   D2 (STEPS=400): d 8 and d 32 sampled again with 400 Euler steps from the same x0 (sampling seed 0, τ 1).
//   Per-sample test accuracy, calibrated test CE and validation accuracy of every width's cached samples (and D2's).
//
//   SETS=std,full,std-lr D1=1 STEPS=400 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/scale8-measure.fsx
// Sets (SETS; not GROUPS, which bash reserves): full = results/full (N's prior, 800 its), std = results/std (standardized prior, 1,000 its), std-lr /
// full-lr = the same with `--lr-scaling inverse-width` (results/std-lr, results/full-lr). Writes
// results/scale8-buckets-<group>.csv and results/scale8-samples-<group>.csv.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Globalization
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let groups = (env "SETS" "std,full").Split(',', StringSplitOptions.RemoveEmptyEntries) |> List.ofArray
let reps = int (env "REPS" "5")
let doBuckets = env "D1" "1" = "1"
let steps2 = int (env "STEPS" "0")
let doSamples = env "SAMPLES" "1" = "1"
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
let s4 (x: float) = x.ToString("+0.0000;-0.0000;0.0000", CultureInfo.InvariantCulture)
let mean (a: float[]) = Array.average a
let sd (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1))
let se (a: float[]) = sd a / sqrt (float a.Length)
let settle () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect()

let configOf (g: string) =
    match g with
    | "full" -> ReproduceScaling.configWith Euclidean ScalingPrior.FullCovariance Full 0L "results/full"
    | "std" -> ReproduceScaling.configWith Euclidean ScalingPrior.Standardized Full 0L "results/std"
    | "full-lr" -> ReproduceScaling.configWithLr Euclidean ScalingPrior.FullCovariance ScalingLr.InverseWidth Full 0L "results/full-lr"
    | "std-lr" -> ReproduceScaling.configWithLr Euclidean ScalingPrior.Standardized ScalingLr.InverseWidth Full 0L "results/std-lr"
    | _ -> failwith $"unknown group {g}"

let bucketNames = [| "[0,.2)"; "[.2,.4)"; "[.4,.6)"; "[.6,.8)"; "[.8,1]" |]
let buckets, perBucket = 5, 64

for g in groups do
    let r = configOf g
    let c = r.Job
    let widthOf (f: FlowRun) = fst (VelocityConfig.size f.Training.Model)
    let flows = [ for f in c.Flows -> widthOf f, f, Flow.load torch.CPU (MainJob.flowPath c f) ]
    let aligned = Zoo.load (MainJob.alignedPath c)
    let h = Holdout.lastRuns c.HeldOutRuns aligned
    log $"{g}: {c.Flows.Length} flows; training checkpoints {h.Train.shape[0]}, held-out {h.HeldOut.shape[0]}"
    if doBuckets then
        let _, _, first = flows.Head
        let toZ = fst (Prior.standardize first.Prior (Flow.layout first)).Value
        let names = "(b) Gaussian-linear" :: [ for w, _, _ in flows -> $"d {w}" ]
        // losses[set][name][bucket] = per-pair losses over every replicate (the same pairs for every predictor)
        let losses = Collections.Generic.Dictionary<string * string, float[][]>()
        for setName, targets in [ "training", h.Train; "held-out", h.HeldOut ] do
            let acc = names |> List.map (fun n -> n, Array.init buckets (fun _ -> ResizeArray<float>())) |> dict
            for rep in 1 .. reps do
                let pairs = LossByTime.standardizedPairs first targets buckets perBucket (int64 rep)
                let add n (l: float[][]) = for k in 0 .. buckets - 1 do acc[n].[k].AddRange(l[k])
                add "(b) Gaussian-linear" (LossByTime.perPairLoss pairs (fun t _ zt -> (t / ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0))).unsqueeze(1L) * zt))
                for w, _, flow in flows do add $"d {w}" (LossByTime.perPairLoss pairs (fun t xt _ -> toZ (Flow.predict flow t xt)))
                for p in pairs do (p.T.Dispose(); p.Xt.Dispose(); p.Zt.Dispose(); p.Z1.Dispose())
                settle ()
            for n in names do losses[(setName, n)] <- acc[n] |> Array.map (fun l -> l.ToArray())
            log $"{g} {setName}: {reps} x {perBucket} pairs per bucket done"
        let at s n k = losses[(s, n)][k]
        let diff s a b k = Array.map2 (-) (at s a k) (at s b k)
        let lines = Collections.Generic.List<string>()
        lines.Add "group,set,predictor,bucket,pairs,loss_mean,loss_se,minus_line,minus_line_se"
        for s in [ "training"; "held-out" ] do
            printfn "\n**%s, %s pairs** (%d per bucket; loss, and minus (b) ± paired SE)\n" g s (reps * perBucket)
            printfn "| predictor | %s |" (String.concat " | " bucketNames)
            printfn "| --- | --- | --- | --- | --- | --- |"
            for n in names do
                let cell k =
                    let l = at s n k
                    if n.StartsWith "(b)" then f4 (mean l) else (let d = diff s n "(b) Gaussian-linear" k in $"{f4 (mean l)} ({s4 (mean d)} ± {f4 (se d)})")
                printfn "| %s | %s |" n (String.concat " | " [ for k in 0 .. buckets - 1 -> cell k ])
                for k in 0 .. buckets - 1 do
                    let l, d = at s n k, diff s n "(b) Gaussian-linear" k
                    lines.Add(String.concat "," [ g; s; $"\"{n}\""; $"\"{bucketNames[k]}\""; string l.Length; inv (mean l); inv (se l); inv (mean d); inv (se d) ])
        // held-out minus training per predictor (unpaired SE)
        printfn "\n**%s, held-out minus training** (unpaired SE)\n" g
        printfn "| predictor | %s |" (String.concat " | " bucketNames)
        printfn "| --- | --- | --- | --- | --- | --- |"
        let gap n k = let a, b = at "held-out" n k, at "training" n k in mean a - mean b, sqrt (se a ** 2.0 + se b ** 2.0)
        for n in names do printfn "| %s | %s |" n (String.concat " | " [ for k in 0 .. buckets - 1 -> (let m, e = gap n k in $"{s4 m} ± {f4 e}") ])
        // the readings: d 32 vs d 8 (the widest and the narrowest of the group)
        let wMin, _, _ = flows.Head
        let wMax, _, _ = List.last flows
        let nMin, nMax = $"d {wMin}", $"d {wMax}"
        lines.Add ""
        lines.Add "group,reading,bucket,value,se,holds"
        for k in 0 .. buckets - 1 do
            let g1, e1 = gap nMax k
            let g0, e0 = gap nMin k
            let e = sqrt (e1 ** 2.0 + e0 ** 2.0)
            let dTr, dHo = diff "training" nMax nMin k, diff "held-out" nMax nMin k
            printfn "%s bucket %s: gap(%s) − gap(%s) = %s ± %s (unpaired)%s; %s − %s training %s ± %s, held-out %s ± %s (paired)"
                g bucketNames[k] nMax nMin (s4 (g1 - g0)) (f4 e) (if k < 2 && g1 - g0 > 2.0 * e then " => overfits at small t" else "")
                nMax nMin (s4 (mean dTr)) (f4 (se dTr)) (s4 (mean dHo)) (f4 (se dHo))
            lines.Add(String.concat "," [ g; "gap widest minus narrowest"; $"\"{bucketNames[k]}\""; inv (g1 - g0); inv e; string (g1 - g0 > 2.0 * e) ])
            lines.Add(String.concat "," [ g; "widest minus narrowest, training pairs"; $"\"{bucketNames[k]}\""; inv (mean dTr); inv (se dTr); string (mean dTr > 2.0 * se dTr) ])
            lines.Add(String.concat "," [ g; "widest minus narrowest, held-out pairs"; $"\"{bucketNames[k]}\""; inv (mean dHo); inv (se dHo); string (mean dHo > 2.0 * se dHo) ])
        let dHi = diff "held-out" nMax nMin 4
        printfn "%s P1 (held-out [0.8, 1]: %s − %s > 2 SE): %s ± %s => %b" g nMax nMin (s4 (mean dHi)) (f4 (se dHi)) (mean dHi > 2.0 * se dHi)
        Report.writeText (Path.Combine("results", $"scale8-buckets-{g}.csv")) (String.concat "\n" lines + "\n")
        log $"{g}: wrote results/scale8-buckets-{g}.csv"
    if doSamples then
        let data = Sources.load c.Task c.Zoo.Seed
        let measure (theta: Tensor) =
            let accT, ceT = ReproduceScaling.perNetwork c.Evaluation c.Zoo.Layout data theta
            let accV = Scope.noGrad (fun () -> Scope.value (fun () -> T.toArray64 ((Mlp.accuracy c.Zoo.Layout theta data.Valid.X data.Valid.Y).to_type(torch.float64))))
            accT, ceT, accV
        let lines = Collections.Generic.List<string>()
        lines.Add "group,flow,width,steps,sample,acc_test,ce_calibrated_test,acc_valid"
        let record (name: string) (w: string) (st: int) (accT: float[], ceT: float[], accV: float[]) =
            for i in 0 .. accT.Length - 1 do
                lines.Add(String.concat "," [ g; $"\"{name}\""; w; string st; string i; inv accT[i]; inv ceT[i]; inv accV[i] ])
            log $"{g} {name}, {st} steps: test accuracy {f4 (mean accT)} ± {f4 (sd accT)}, calibrated CE {f4 (mean ceT)}, validation accuracy {f4 (mean accV)} (n {accT.Length})"
        let cached = Collections.Generic.Dictionary<int, float[] * float[] * float[]>()
        for w, f, _ in flows do
            let _, theta, _ = Sampling.load (MainJob.samplesPath c f)
            let m = measure theta
            theta.Dispose()
            cached[w] <- m
            record f.Name (string w) (MainJobConfig.samplingOf c f).Steps m
        let prior = ReproduceScaling.priorSamples r
        record ReproduceScaling.PriorAloneName "" 0 (measure prior)
        prior.Dispose()
        settle ()
        if steps2 > 0 then
            let wMin, _, _ = flows.Head
            let wMax, _, _ = List.last flows
            for w, f, flow in flows do
                if w = wMin || w = wMax then
                    let s = { MainJobConfig.samplingOf c f with Steps = steps2 }
                    let c0 = cpu ()
                    let res = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
                    if res.NonFinite.Length > 0 then log $"{f.Name}: {res.NonFinite.Length} non-finite samples at {steps2} steps (dropped; no pairing)"
                    let m = measure res.Theta
                    res.Theta.Dispose()
                    record f.Name (string w) steps2 m
                    let aT, _, aV = m
                    let bT, _, bV = cached[w]
                    if aT.Length = bT.Length then
                        let dV, dT = Array.map2 (-) aV bV, Array.map2 (-) aT bT
                        printfn "%s d %d: %d − 100 Euler steps: validation accuracy %s ± %s, test %s ± %s (paired, the same x0); sampling %.0f CPU s"
                            g w steps2 (s4 (mean dV)) (f4 (se dV)) (s4 (mean dT)) (f4 (se dT)) (cpu () - c0)
                    settle ()
        Report.writeText (Path.Combine("results", $"scale8-samples-{g}.csv")) (String.concat "\n" lines + "\n")
        log $"{g}: wrote results/scale8-samples-{g}.csv"
    aligned.Theta.Dispose()
    settle ()
log "done"
