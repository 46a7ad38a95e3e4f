// The Gaussian-linear line on held-out checkpoints (issue 13; docs/mnist/heldout.md, criterion pre-stated there):
// the loss per t bucket of (a) the zoo mean, (b) the Gaussian-linear predictor, (c) the exact posterior mean over the
// training checkpoints (the memorizer, LossByTime.empiricalPosterior) and (d) the full preset's first flow (the RT, read
// back from OUT, trained there by scripts/heldout-train.fsx), on training pairs and on pairs whose targets are the
// held-out runs' checkpoints: 5 buckets x REPS replicates x 64 pairs (replicate r: longrt's draws with seed r),
// standardized coordinates, paired SEs against (b); the memorizer's concentration per bucket.
//
//   OUT=results/heldout REPS=5 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/heldout-run.fsx
// Writes OUT/heldout.csv. FLOW=path evaluates another flow file (a change's run) as (d).
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
let flowRun = c.Flows.Head
let zoo, _, zooReused = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, alignReused = MainJob.alignZoo c zoo ignore
if not (zooReused && alignReused) then failwith "the zoo was rebuilt: run scripts/heldout-train.fsx first"
let flow, rtName =
    match Environment.GetEnvironmentVariable "FLOW" with
    | null | "" ->
        let f, _, loss, reused = MainJob.trainFlow c zoo aligned flowRun ignore CancellationToken.None
        if not reused then failwith "the flow was retrained: run scripts/heldout-train.fsx first"
        log $"N read back: final loss (last 50) {loss:F4}"
        f, "(d) RT, 800 steps"
    | path -> Flow.load torch.CPU path, $"(d) {Path.GetFileNameWithoutExtension path}"
let h = Holdout.lastRuns c.HeldOutRuns aligned
log $"training checkpoints {h.Train.shape[0]} (runs {h.TrainRuns[0]}-{Array.last h.TrainRuns}), held-out {h.HeldOut.shape[0]} (runs %A{h.HeldOutRuns})"

let buckets, perBucket = 5, 64
let toZ = fst (Prior.standardize flow.Prior (Flow.layout flow)).Value
// the memorizer's weights over the training checkpoints, once per batch: its prediction and its concentration
let weightsOf = LossByTime.empiricalPosteriorWeights flow.Space flow.Prior h.Train
let yTrain = Scope.noGrad (fun () -> h.Train.to_type(torch.float64).DetachFromDisposeScope())
let runOf = h.TrainIndex |> Array.map (fun i -> aligned.Run[i])
let runIds = Array.distinct runOf
let oneHot = Scope.noGrad (fun () -> torch.tensor(Array2D.init runOf.Length runIds.Length (fun i j -> if runOf[i] = runIds[j] then 1.0 else 0.0)).DetachFromDisposeScope())
log "memorizer ready"

let predictors = [ "(a) zoo mean"; "(b) Gaussian-linear"; "(c) memorizer"; rtName ]
let sets = [ "training", h.Train; "held-out", h.HeldOut ]
// losses[set][predictor][bucket] over all replicates; concentration[set][bucket] = (max weight, ESS, max run weight)
let losses = Collections.Generic.Dictionary<string * string, float[][]>()
let seed1 = Collections.Generic.Dictionary<string * string, float[]>()
let conc = Collections.Generic.Dictionary<string, float[][][]>()
for setName, targets in sets do
    let byPred = predictors |> List.map (fun p -> p, Array.init buckets (fun _ -> ResizeArray<float>())) |> dict
    let cs = Array.init buckets (fun _ -> Array.init 3 (fun _ -> ResizeArray<float>()))
    for r in 1 .. reps do
        let pairs = LossByTime.standardizedPairs flow targets buckets perBucket (int64 r)
        let lossOf name (f: Tensor -> Tensor -> Tensor -> Tensor) =
            let l = LossByTime.perPairLoss pairs f
            for k in 0 .. buckets - 1 do (byPred[name]).[k].AddRange(l.[k])
            if r = 1 then seed1[(setName, name)] <- (l |> Array.map Array.average)
        lossOf "(a) zoo mean" (fun _ _ zt -> torch.zeros_like zt)
        // optimal when prior and targets are the same Gaussian (Prior.fs): ẑ1 = t/((1 − t)² + t²)·z_t
        lossOf "(b) Gaussian-linear" (fun t _ zt -> (t / ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0))).unsqueeze(1L) * zt)
        let bucketOf (t: Tensor) = min (buckets - 1) (int (t.min().ToDouble() * float buckets))
        lossOf "(c) memorizer" (fun t xt _ ->
            let w = weightsOf t xt
            let k = bucketOf t
            let arr (x: Tensor) = x.data<float>().ToArray()
            let top, ess, topRun = arr (w.amax([| 1L |])), arr (w.pow(scalar 2.0).sum(1L).reciprocal()), arr (w.matmul(oneHot).amax([| 1L |]))
            cs.[k].[0].AddRange(top)
            cs.[k].[1].AddRange(ess)
            cs.[k].[2].AddRange(topRun)
            toZ (w.matmul(yTrain).to_type(torch.float32)))
        lossOf rtName (fun t xt _ -> toZ (Flow.predict flow t xt))
        log $"{setName} replicate {r}/{reps} done"
    for p in predictors do losses[(setName, p)] <- byPred[p] |> Array.map (fun l -> l.ToArray())
    conc[setName] <- cs |> Array.map (Array.map (fun l -> l.ToArray()))

let mean (a: float[]) = Array.average a
let std (a: float[]) = let m = mean a in sqrt ((a |> Array.sumBy (fun x -> (x - m) ** 2.0)) / float (a.Length - 1))
let se (a: float[]) = std a / sqrt (float a.Length)
let lossAt (s: string) (p: string) (k: int) : float[] = losses[(s, p)][k]
let concAt (s: string) (k: int) (i: int) : float[] = (conc[s]).[k].[i]
let seed1At (s: string) (p: string) (k: int) : float = seed1[(s, p)][k]
let diff (s: string) (p: string) k = Array.map2 (-) (lossAt s p k) (lossAt s "(b) Gaussian-linear" k)
let bucketNames = [| "[0,.2)"; "[.2,.4)"; "[.4,.6)"; "[.6,.8)"; "[.8,1]" |]
let rel (s: string) (p: string) k =
    let d = diff s p k
    if p = "(b) Gaussian-linear" then "" else " (" + (mean d / se d).ToString("+0.0;-0.0", CultureInfo.InvariantCulture) + " SE)"
for setName, _ in sets do
    printfn "\n**%s pairs** (%d pairs per bucket; in brackets (X − (b)) / paired SE)\n" setName (reps * perBucket)
    printfn "| predictor | %s |" (String.concat " | " bucketNames)
    printfn "| --- | --- | --- | --- | --- | --- |"
    for p in predictors do
        printfn "| %s | %s |" p (String.concat " | " [ for k in 0 .. buckets - 1 -> $"{f4 (mean (lossAt setName p k))}{rel setName p k}" ])
    printfn "| memorizer: largest checkpoint weight / ESS / largest run weight | %s |"
        (String.concat " | " [ for k in 0 .. buckets - 1 -> $"{mean (concAt setName k 0):F3} / {mean (concAt setName k 1):F1} / {mean (concAt setName k 2):F3}" ])
printfn "\n**replicate 1 alone** (64 pairs per bucket; training: longrt's / rowfull's draws)\n"
printfn "| set | predictor | %s |" (String.concat " | " bucketNames)
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for setName, _ in sets do
    for p in predictors do printfn "| %s | %s | %s |" setName p (String.concat " | " [ for k in 0 .. buckets - 1 -> f4 (seed1At setName p k) ])
printfn "\n**held-out minus training** per predictor (unpaired SE)\n"
printfn "| predictor | %s |" (String.concat " | " bucketNames)
printfn "| --- | --- | --- | --- | --- | --- |"
for p in predictors do
    let cell k =
        let a, b = lossAt "held-out" p k, lossAt "training" p k
        $"{f4 (mean a - mean b)} ± {f4 (sqrt (se a ** 2.0 + se b ** 2.0))}"
    printfn "| %s | %s |" p (String.concat " | " [ for k in 0 .. buckets - 1 -> cell k ])

// the pre-stated readings (docs/mnist/heldout.md), buckets below t = 0.8
let side s p k = let d = diff s p k in if mean d < -2.0 * se d then "below" elif mean d > 2.0 * se d then "above" else "on"
printfn ""
for k in 0 .. 3 do
    let cTr, cHo, dTr, dHo = side "training" "(c) memorizer" k, side "held-out" "(c) memorizer" k, side "training" rtName k, side "held-out" rtName k
    let runW = mean (concAt "training" k 2)
    let readings =
        [ if cTr = "below" && cHo = "above" && dTr <> "below" && dHo <> "below" then "1 frontier"
          if cHo <> "above" then "3 memorization does not hurt"
          if dHo = "below" then "4 RT beyond Gaussian on held-out"
          if dHo = "above" && dTr <> "above" then "5 RT overfits"
          if runW < 0.5 then "6 no concentration (training pairs)" ]
    printfn "bucket %s: (c) %s / %s, (d) %s / %s (training / held-out vs (b)); memorizer's largest run weight %.3f (training) %.3f (held-out): readings %s"
        bucketNames[k] cTr cHo dTr dHo runW (mean (concAt "held-out" k 2)) (if readings.IsEmpty then "none" else String.concat ", " readings)

let csv = Path.Combine(outDir, (match Environment.GetEnvironmentVariable "CSV" with null | "" -> "heldout.csv" | n -> n))
Report.writeText csv
    (String.concat "\n"
        ("set,predictor,bucket,pairs,loss_mean,loss_se,minus_gaussian_linear,paired_se,replicate1_mean"
         :: [ for s, _ in sets do
                for p in predictors do
                    for k in 0 .. buckets - 1 ->
                        let l, d = lossAt s p k, diff s p k
                        String.concat "," [ s; $"\"{p}\""; bucketNames[k]; string l.Length; inv (mean l); inv (se l); inv (mean d); inv (se d); inv (seed1At s p k) ] ]
         @ [ ""; "set,bucket,max_checkpoint_weight,ess,max_run_weight" ]
         @ [ for s, _ in sets do
                for k in 0 .. buckets - 1 ->
                    String.concat "," [ s; bucketNames[k]; inv (mean (concAt s k 0)); inv (mean (concAt s k 1)); inv (mean (concAt s k 2)) ] ]))
log $"wrote {csv}"
