// The one change of docs/mnist/heldout.md (pre-stated there): M, the full preset's MLP velocity model on N's recipe
// (the full-covariance standardized prior, 800 steps, WarmupCosine 100), trained by the main job's own stage in OUT
// beside N (scripts/heldout-train.fsx), then M and N sampled (32 x 100 Euler steps, seed 0, τ 1) and evaluated in one
// process by the main job's evaluation. Its loss per t bucket: FLOW=OUT/<M's flow file> scripts/heldout-run.fsx.
//
//   OUT=results/heldout WEIGHTFLOW_THREADS=1 dotnet fsi scripts/heldout-change.fsx
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
// the preset's MLP training settings, moved onto N's prior and schedule
let mlp = ReproduceMnist.training Full 0L Euclidean VelocityKind.Mlp Independent
let m =
    { n with
        Name = "Euclidean MLP (aligned, full-covariance prior)"
        Training = { mlp with Prior = n.Training.Prior; Iterations = n.Training.Iterations; Schedule = n.Training.Schedule } }
let differs =
    let a, b = Map.ofList (TrainingConfig.toMetadata n.Training), Map.ofList (TrainingConfig.toMetadata m.Training)
    let get (x: Map<string, string>) k = Map.tryFind k x |> Option.defaultValue "–"
    Set.union (set a.Keys) (set b.Keys) |> Set.toList |> List.filter (fun k -> get a k <> get b k)
    |> List.map (fun k -> $"{k}: {get a k} -> {get b k}")
log ("M differs from N in: " + String.concat "; " differs)

let zoo, _, zr = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, ar = MainJob.alignZoo c zoo ignore
if not (zr && ar) then failwith "the zoo was rebuilt: run scripts/heldout-train.fsx first"
let flowN, _, _, reusedN = MainJob.trainFlow c zoo aligned n ignore CancellationToken.None
if not reusedN then failwith "N was retrained: run scripts/heldout-train.fsx first"
let progress (p: MainJobProgress) = if p.Done % 100 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let flowM, _, lossM, _ = MainJob.trainFlow c zoo aligned m progress CancellationToken.None
log $"M trained: final loss (last 50) {lossM:F4}; flow file {MainJob.flowPath c m}"
let thetaM, _, droppedM, _ = MainJob.sampleFlow c m flowM progress
let thetaN, _, droppedN, _ = MainJob.sampleFlow c n flowN progress
log $"sampled: M {thetaM.shape[0]} ({droppedM} dropped), N {thetaN.shape[0]} ({droppedN} dropped)"

let data = Sources.load c.Task c.Zoo.Seed
let h0 = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, _, pool = Evaluation.ofHoldout c.Evaluation id data aligned h0
pool.Dispose()
let rows = [ for name, theta in [ m.Name, thetaM; n.Name, thetaN ] -> Evaluation.evaluate ctx name theta ]
let opt (x: float option) = x |> Option.map f4 |> Option.defaultValue "–"
printfn "\n| row | accuracy mean ± std (min) | BMA16 | CE calibrated | diversity | novelty | fidelity (floor) |"
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for r in rows do
    printfn "| %s | %s ± %s (%s) | %s | %s | %s | %s | %s (%s) |" r.Name (f4 r.AccuracyMean) (f4 r.AccuracyStd) (f4 r.AccuracyMin) (f4 r.Bma.Accuracy)
        (f4 r.CalibratedCrossEntropy) (opt r.Diversity) (opt r.NoveltyRatio) (opt r.Fidelity) (opt r.FidelityFloor)
let csv = Path.Combine(outDir, "heldout-samples.csv")
Report.writeText csv
    (String.concat "\n"
        ("row,count,acc_mean,acc_std,acc_min,bma16,ce_calibrated,diversity,novelty,fidelity,fidelity_floor"
         :: [ for r in rows ->
                String.concat "," [ $"\"{r.Name}\""; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.AccuracyMin; inv r.Bma.Accuracy
                                    inv r.CalibratedCrossEntropy; opt r.Diversity; opt r.NoveltyRatio; opt r.Fidelity; opt r.FidelityFloor ] ]))
log $"wrote {csv}"
