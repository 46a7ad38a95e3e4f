// The Normalized / Geometric RT on the aligned, canonicalized MNIST 784-10-10 zoo, started from the Gaussian fitted to
// its training targets (issue 13; the UCI main job's recipe for its canonical flows, `MainJobConfig.uciFlow`: the
// CPU preset — symmetry-aware coupling, x̂1 through a velocity, lr 3e-3 — from `FitToTargets`, sampled at τ 1.1).
// The fit is made on the raw aligned checkpoints, drawn raw and canonicalized (Prior.sampleTempered), as on UCI;
// PRIOR=full draws from the rank-K full-covariance fit instead (Prior.fitFull, not standardized: canonical flows take
// no standardization). The prior is fitted once here and passed to every training segment as `Fitted` (Training.train
// would refit the same deterministic fit at each resume).
//
// Trains in segments (cancel at EVALAT's steps, resume: the run equals an uninterrupted one) and after each prints
// - the EMA flow's loss per t bucket (LossByTime, on the training coupling's pairs) beside three predictors that need
//   no training, all in the flow's (canonical) space and projected onto it: the zoo mean; the Gaussian-linear
//   predictor μ + t/((1 − t)² + t²)·(x_t − μ) (optimal when prior and targets are one Gaussian N(μ, C), Prior.fs;
//   μ the canonical targets' mean), and its per-coordinate version with the prior's own moments,
//   m1 + t·v/((1 − t)²·p + t²·v)·(x_t − (1 − t)·m0 − t·m1) (m0, p the canonical prior draws' mean and variance, m1, v
//   the canonical targets': the best per-coordinate linear estimate of x1 from x_t on the straight path with
//   independent pairs). A flow whose loss sits on these lines has learned nothing a linear denoiser does not know;
// - SAMPLES samples' test accuracy (1,000 test digits), BMA16, calibrated CE, diversity, novelty ratio, MMD² (with
//   its floor) in the canonical space, against the 5 held-out runs (Evaluation.ofHoldout, as the main job);
// and before training the baselines in the same space: zoo mean, the canonical fitted (diagonal) Gaussian, held-out
// checkpoints (Evaluation.baselines), the canonical full-covariance Gaussian (Evaluation.fullGaussian), and the
// flow's prior alone (a flow that learned the identity) at each of TAUS.
//
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/geo-mnist.fsx
// Settings by environment (defaults in brackets): ZOO [/tmp/geo-mnist/zoo-aligned.safetensors], FLOW [geometric |
// normalized], PRIOR [fitted | full], RANK [512], COUPLING [symmetry], PRED [via | endpoint], LR [3e-3], BATCH [16],
// WIDTH [16], LAYERS [3], ITER [800], WARMUP [100], EVALAT [200,400,800], SAMPLES [32], STEPS [100: Euler steps],
// TAUS [1,1.1: the prior rows, and the last evaluation's samples], BASELINES [1: the zoo-mean, Gaussian and
// held-out rows; 0 skips them, the prior rows and untrained predictors stay], HOLD [5], SEED [0],
// CKPT [/tmp/geo-mnist/run.checkpoint] (deleted first unless RESUME=1), CSV [none: also write every row there].
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let zooPath = env "ZOO" "/tmp/geo-mnist/zoo-aligned.safetensors"
let flowKind = FlowKind.parse (env "FLOW" "geometric")
if flowKind = Euclidean then failwith "FLOW must be geometric or normalized (the canonical flows); the Euclidean RT is scripts/mnist-flow-curve.fsx's"
let baseCfg = TrainingConfig.cpu flowKind VelocityKind.Rt
let zoo = Zoo.load zooPath
let split = Holdout.lastRuns (int (env "HOLD" "5")) zoo
let data = Sources.load zoo.Task zoo.Config.Seed
let samples = int (env "SAMPLES" "32")
let steps = int (env "STEPS" "100")
let taus = (env "TAUS" "1,1.1").Split(',') |> Array.map (fun s -> float (s.Trim()))
let evalAt = (env "EVALAT" "200,400,800").Split(',') |> Array.map int |> set
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]

// the prior, fitted once on the raw aligned training checkpoints
let rank = int (env "RANK" "512")
let priorName = env "PRIOR" "fitted"
let c0 = cpu ()
let prior =
    { baseCfg.Prior with
        Centre =
            match priorName with
            | "fitted" -> Prior.fit false zoo.Layout split.Train
            | "full" -> Prior.fitFull { Standardized = false; Rank = rank; LinearSkip = false } zoo.Layout split.Train
            | p -> failwith $"PRIOR {p}? (fitted | full)" }
let fitCpu = cpu () - c0
let config =
    { baseCfg with
        Coupling = Coupling.parse (env "COUPLING" "symmetry")
        Model = VelocityConfig.defaults VelocityKind.Rt (int (env "WIDTH" "16")) (int (env "LAYERS" "3"))
        BatchSize = int (env "BATCH" "16")
        Iterations = int (env "ITER" "800")
        LearningRate = float (env "LR" "3e-3")
        Schedule = (match int (env "WARMUP" "100") with 0 -> Constant | w -> WarmupCosine w)
        Prediction = (match env "PRED" "via" with "via" -> EndpointViaVelocity | "endpoint" -> Endpoint | p -> failwith $"PRED {p}? (via | endpoint)")
        Prior = prior
        CheckpointEvery = 1_000_000
        Seed = int64 (env "SEED" "0") }
let space = FlowSpace.create config.Flow config.Sigma zoo.Layout
let project = FlowSpace.project space
let ctx, canon, pool =
    Scope.noGrad (fun () -> Evaluation.ofHoldout { Evaluation.defaultConfig with BmaK = min 16 samples; DiversityMax = max 2 samples } (FlowSpace.embed space) data zoo split)
let inSpace = canon.Train   // the canonical training targets (what LossByTime pairs with prior draws)
let ckpt = env "CKPT" "/tmp/geo-mnist/run.checkpoint"
Directory.CreateDirectory(Path.GetDirectoryName ckpt) |> ignore
if env "RESUME" "0" <> "1" && File.Exists ckpt then File.Delete ckpt

let inv = Globalization.CultureInfo.InvariantCulture
let f4 (x: float) = x.ToString("0.0000", inv)
let fg (x: float) = x.ToString("0.####e0", inv)
let opt (x: float option) = x |> Option.map fg |> Option.defaultValue "-"
printfn "# %s RT %dx%d, %s coupling, batch %d, iter %d, lr %g, pred %A, prior %s (rank %d; fit %.1f CPU s), %d targets, %d samples x %d Euler steps; load %s"
    (FlowKind.text config.Flow) (fst (VelocityConfig.size config.Model)) (snd (VelocityConfig.size config.Model)) (Coupling.text config.Coupling)
    config.BatchSize config.Iterations config.LearningRate config.Prediction priorName rank fitCpu inSpace.shape[0] samples steps (load ())
let csvRows = Collections.Generic.List<string>()
let header = "row,step,train_cpu_s,tau,euler_steps,acc_mean,acc_min,bma16,calibrated_ce,diversity,novelty,mmd2,mmd2_floor"
printfn "%s" (header.Replace(',', '\t'))
let lossHeader = ",loss_t0,loss_t1,loss_t2,loss_t3,loss_t4"
let printRow (name: string) (step: string) (trainCpu: string) (tau: string) (eulerSteps: string) (row: Evaluation.Row) =
    let cells = [ name; step; trainCpu; tau; eulerSteps; f4 row.AccuracyMean; f4 row.AccuracyMin; f4 row.Bma.Accuracy; f4 row.CalibratedCrossEntropy
                  opt row.Diversity; opt row.NoveltyRatio; opt row.Fidelity; opt row.FidelityFloor ]
    csvRows.Add(String.Join(",", cells) + ",,,,,")
    printfn "%s" (String.Join("\t", cells))
    Console.Out.Flush()

// the predictors that need no training, in the canonical space
let zooMean = LossByTime.zooMean space inSpace
let muC = Scope.noGrad (fun () -> inSpace.mean([| 0L |], true).DetachFromDisposeScope())
let linScalar (t: Tensor) (xt: Tensor) =
    let c = t / ((1.0 - t).pow(Scalar.op_Implicit 2.0) + t.pow(Scalar.op_Implicit 2.0))
    project (muC + c.unsqueeze(1L) * (xt - muC))
let m0, p0, m1, v1 =
    Scope.noGrad (fun () ->
        use gen = Scope.Rng.create 7L
        let x0 = Prior.sample prior space gen torch.CPU 2048
        let d (x: Tensor) = x.DetachFromDisposeScope()
        d (x0.mean([| 0L |], true)), d (x0.var(0L, false, true)), d (inSpace.mean([| 0L |], true)), d (inSpace.var(0L, false, true)))
let linDiag (t: Tensor) (xt: Tensor) =
    let t1 = t.unsqueeze(1L)
    let gain = t1 * v1 / ((1.0 - t1).pow(Scalar.op_Implicit 2.0) * p0 + t1.pow(Scalar.op_Implicit 2.0) * v1)
    project (m1 + gain * (xt - (1.0 - t1) * m0 - t1 * m1))
let byT (p: Prior) (preds: (Tensor -> Tensor -> Tensor) list) = LossByTime.evaluate space p config.Coupling config.BatchSize 5 32 1L inSpace preds
let b (xs: float[]) = xs |> Array.map fg |> String.concat " "

if env "RESUME" "0" <> "1" then
    let c0 = cpu ()
    if env "BASELINES" "1" = "1" then
        for r in Scope.noGrad (fun () -> Evaluation.baselines ctx project samples 1L canon.Train pool) do printRow r.Name "-" "-" "1" "-" r
        printRow "full-covariance Gaussian (canonical)" "-" "-" "1" "-" (Scope.noGrad (fun () -> Evaluation.fullGaussian ctx project samples 1L 1.0 canon.Train))
    for tau in taus do
        use gen = Scope.Rng.create 1L
        let x0 = Scope.noGrad (fun () -> Prior.sampleTempered tau prior space gen torch.CPU samples)
        printRow $"prior ({priorName})" "0" "-" (string tau) "-" (Evaluation.evaluate ctx "prior" x0)
        x0.Dispose()
    let l = byT prior [ zooMean; linScalar; linDiag ]
    printfn "# untrained predictors by t bucket: zoo mean %s | Gaussian-linear %s | per-coordinate linear %s" (b l[0]) (b l[1]) (b l[2])
    for name, xs in List.zip [ "zoo mean"; "Gaussian-linear"; "per-coordinate linear" ] (List.ofArray l) do
        csvRows.Add(sprintf "loss-by-t %s,0,,,,,,,,,,,,%s" name (String.Join(",", xs |> Array.map fg)))
    printfn "# baselines and prior rows: %.0f CPU s; load %s" (cpu () - c0) (load ())

let mutable finished = false
let mutable lastLosses = 0
let mutable trainCpu = 0.0
while not finished do
    use cts = new CancellationTokenSource()
    let before = cpu ()
    let r =
        Training.train config zoo.Layout split.Train (Some ckpt)
            (fun p -> if evalAt.Contains p.Step && p.Step < config.Iterations then cts.Cancel()) cts.Token
    finished <- r.Outcome = Completed
    (match r.Outcome with Diverged s -> failwith $"diverged at {s}" | _ -> ())
    trainCpu <- trainCpu + (cpu () - before)
    let step = r.Losses.Length
    let seg = r.Losses[lastLosses ..]
    lastLosses <- step
    let c0 = cpu ()
    let l = byT r.Flow.Prior [ Flow.predict r.Flow; zooMean; linScalar; linDiag ]
    printfn "# step %d: train CPU %.0f s, wall %.0f s, segment loss %s; by t bucket: flow %s | zoo mean %s | Gaussian-linear %s | per-coordinate linear %s; load %s"
        step trainCpu sw.Elapsed.TotalSeconds (fg (Array.average seg)) (b l[0]) (b l[1]) (b l[2]) (b l[3]) (load ())
    let lossRow name (xs: float[]) = csvRows.Add(sprintf "loss-by-t %s,%d,%.0f,,,,,,,,,,,%s" name step trainCpu (String.Join(",", xs |> Array.map fg)))
    lossRow "flow" l[0]
    lossRow "zoo mean" l[1]
    lossRow "Gaussian-linear" l[2]
    lossRow "per-coordinate linear" l[3]
    for tau in (if finished then taus else [| 1.0 |]) do
        let s = Scope.noGrad (fun () -> Sampling.sample { SamplingConfig.defaults samples with Steps = steps; Seed = 1L; Temperature = tau } ignore torch.CPU r.Flow)
        printRow $"{FlowKind.text config.Flow} RT" (string step) (sprintf "%.0f" trainCpu) (string tau) (string steps) (Evaluation.evaluate ctx "flow" s.Theta)
        s.Theta.Dispose()
    printfn "# evaluation at step %d: %.0f CPU s" step (cpu () - c0)

match env "CSV" "" with
| "" -> ()
| path ->
    // atomically: a temporary file beside it, then a rename (a row has either the sample columns or the five buckets)
    let tmp = path + ".tmp"
    File.WriteAllText(tmp, header + lossHeader + "\n" + String.Join("\n", csvRows) + "\n")
    File.Move(tmp, path, true)
printfn "# done: %.0f CPU s in all (training %.0f), wall %.0f s; load %s" (cpu ()) trainCpu sw.Elapsed.TotalSeconds (load ())
