// A flow's learning curve on an (aligned) MNIST zoo (issue 13 item 1): trains in segments (cancel at the segment's
// end, which checkpoints; the next segment resumes, so the run equals an uninterrupted one), and after each segment
// prints the CPU seconds spent training, the mean training loss of the segment, the EMA flow's loss per t bucket beside
// predicting the zoo mean (LossByTime, on the coupled pairs), and the test accuracy / BMA / diversity / novelty ratio /
// fidelity (MMD² to the held-out runs, with its floor) of a few samples.
//
//   WEIGHTFLOW_THREADS=1 nice -n 5 dotnet fsi scripts/mnist-flow-curve.fsx
// Settings by environment (defaults in brackets): ZOO [/tmp/mnist-exp/zoo-aligned.safetensors], FLOW [geometric],
// MODEL [rt], COUPLING [symmetry], WIDTH [16], LAYERS [3], BATCH [16], ITER [2000], LR [1e-3], WARMUP [100],
// PAIRING [sum | product: the RT's edge update with the node-product term, RelationalTransformer.NodePairing],
// AGGREGATION [mean | sqrt-degree: the RT's attention output times √(neighbourhood size), RelationalTransformer.Aggregation],
// ROWS [0 | R: the RT's equivariant neuron-row linear term of rank R, RelationalTransformer.SharedLowRank / NeuronRowLinear],
// TIME [beta(1,2)], PRED [endpoint | velocity | via: x̂1 = x_t + (1 - t) v],
// PRIOR [origin | fitted | standardized (Euclidean; Prior.fs) | full | standardized-full (the targets' full covariance,
// Prior.fitFull, RANK [512] principal directions plus the residual diagonal; SKIP=1: standardized-full with the
// Gaussian-optimal linear skip, LowRankCovariance.LinearSkip)], PRIOR_STD [0.1],
// PRECOND [the CPU preset's: edm-weighted for the Euclidean RT | plain | input | edm] (s1 in the README was plain),
// STANDARDIZE [0; 1: the same as PRIOR=standardized done by this script: the Euclidean flow on standardized targets],
// BASELINES [0; 1: with the Origin prior, also evaluate the diagonal and full-covariance Gaussians at τ 1 before training],
// EVERY [250], FIRST [none: also evaluate after this many steps, e.g. 50], HOLD [5], SAMPLES [16], STEPS [20], SEED [0],
// STEPLIST [STEPS: after the last segment, sample at each of these Euler step counts (and each of TAUS)],
// CKPT [/tmp/mnist-exp/curve.checkpoint] (deleted first unless RESUME=1; RESUME=1 on a finished run only evaluates),
// EVALONLY [0; 1 with RESUME=1: evaluate the checkpoint as it stands (e.g. a run stopped at a segment's end) without
// training further, with TAUS],
// TAUS [none; e.g. 1,0.8,0.6,0.4: after the last segment, sample the flow with its prior draw scaled by each
// temperature tau (x0 ~ N(0, (tau·s)² I), Origin prior only) and the fitted Gaussian at the same tau
// (μ + tau·σ·ε): the accuracy-against-novelty curve over sampling noise, flow beside the Gaussian; a fitted prior
// (PRIOR fitted/standardized/full/standardized-full) is sampled at temperature tau (Prior.sampleTempered), beside the
// diagonal and the full-covariance Gaussian (Baselines.gaussianAt / fullGaussianAt) at the same tau].
// With a fitted prior the loss by t bucket adds a third predictor: the Gaussian-optimal linear one,
// x̂1 = μ + t/((1 − t)² + t²)·(x_t − μ) (optimal when prior and targets are the same Gaussian, Prior.fs), and before
// training the prior's own samples and both Gaussians (τ 1) are evaluated.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

let threads = int (env "WEIGHTFLOW_THREADS" "1")
torch.set_num_threads threads
let zooPath = env "ZOO" "/tmp/mnist-exp/zoo-aligned.safetensors"
let flowKind = FlowKind.parse (env "FLOW" "geometric")
let model =
    match env "MODEL" "rt" with
    | "rt" -> VelocityKind.Rt
    | "pna" -> VelocityKind.Pna
    | "mlp" -> VelocityKind.Mlp
    | m -> failwith $"MODEL {m}?"
let baseCfg = TrainingConfig.cpu flowKind model
let width, layers = VelocityConfig.size baseCfg.Model
let config =
    { baseCfg with
        Coupling = Coupling.parse (env "COUPLING" "symmetry")
        Model =
            match VelocityConfig.defaults model (int (env "WIDTH" (string width))) (int (env "LAYERS" (string layers))), env "PAIRING" "sum" with
            | m, "sum" -> m
            | VelocityConfig.Rt c, "product" -> VelocityConfig.Rt { c with Pairing = RelationalTransformer.SumAndProduct }
            | _, p -> failwith $"PAIRING {p}? (sum | product, RT only)"
            |> fun m ->
                match m, env "AGGREGATION" "mean" with
                | m, "mean" -> m
                | VelocityConfig.Rt c, "sqrt-degree" -> VelocityConfig.Rt { c with Aggregation = RelationalTransformer.SqrtDegree }
                | _, a -> failwith $"AGGREGATION {a}? (mean | sqrt-degree, RT only)"
            |> fun m ->
                match m, int (env "ROWS" "0") with
                | m, 0 -> m
                | VelocityConfig.Rt c, r -> VelocityConfig.Rt { c with NeuronRows = RelationalTransformer.SharedLowRank r }
                | _, r -> failwith $"ROWS {r}? (0 | a rank R ≥ 1, RT only)"
        BatchSize = int (env "BATCH" "16")
        Iterations = int (env "ITER" "2000")
        LearningRate = float (env "LR" "1e-3")
        Schedule = (match int (env "WARMUP" "100") with 0 -> Constant | w -> WarmupCosine w)
        Time = TimeDistribution.parse (env "TIME" "beta(1,2)")
        Prediction = (match env "PRED" "endpoint" with "velocity" -> Velocity | "via" -> EndpointViaVelocity | _ -> Endpoint)
        Preconditioning = (match env "PRECOND" "" with "" -> baseCfg.Preconditioning | k -> PreconditioningKind.parse k)
        Prior =
            { Std = float (env "PRIOR_STD" (string baseCfg.Prior.Std))
              Centre =
                match env "PRIOR" "origin" with
                | "fitted" -> FitToTargets false
                | "standardized" -> FitToTargets true
                | "full" -> FitFullToTargets { Standardized = false; Rank = int (env "RANK" "512"); LinearSkip = false }
                | "standardized-full" -> FitFullToTargets { Standardized = true; Rank = int (env "RANK" "512"); LinearSkip = env "SKIP" "0" = "1" }
                | "origin" -> Origin
                | p -> failwith $"PRIOR {p}? (origin | fitted | standardized | full | standardized-full)" }
        CheckpointEvery = 1_000_000
        Seed = int64 (env "SEED" "0") }
let every = int (env "EVERY" "250")
let samples = int (env "SAMPLES" "16")
let steps = int (env "STEPS" "20")
let ckpt = env "CKPT" "/tmp/mnist-exp/curve.checkpoint"
if env "RESUME" "0" <> "1" && File.Exists ckpt then File.Delete ckpt

let zoo = Zoo.load zooPath
let split = Holdout.lastRuns (int (env "HOLD" "5")) zoo
let data = Sources.load zoo.Task zoo.Config.Seed
let space = FlowSpace.create config.Flow config.Sigma zoo.Layout
// novelty and fidelity against the held-out runs, in the flow's space (as the main job's table)
let ctx, _, _ = Scope.noGrad (fun () -> Evaluation.ofHoldout { Evaluation.defaultConfig with BmaK = min 16 samples } (FlowSpace.embed space) data zoo split)
// STANDARDIZE=1 (Euclidean flow only): the flow learns z = (θ - μ) / s, μ and s the per-parameter mean and std of the
// training targets, from the prior N(0, PRIOR_STD² I); samples are mapped back by θ = μ + s·z before evaluation
let standardize = env "STANDARDIZE" "0" = "1"
if standardize && config.Flow <> Euclidean then failwith "STANDARDIZE=1 needs FLOW=euclidean"
let mu, sd = Scope.noGrad (fun () -> split.Train.mean([| 0L |], true), split.Train.std(0L, false, true).clamp_min(Scalar.op_Implicit 1e-6))
let targets = if standardize then Scope.noGrad (fun () -> (split.Train - mu) / sd) else split.Train
let toRaw (theta: Tensor) = if standardize then Scope.noGrad (fun () -> theta * sd + mu) else theta
let inSpace = Scope.noGrad (fun () -> FlowSpace.embed space targets)
let zooMean = LossByTime.zooMean space inSpace
// the Gaussian-optimal linear predictor (raw space): μ + t/((1 − t)² + t²)·(x_t − μ)
let gaussLinear (t: Tensor) (xt: Tensor) =
    let c = t / ((1.0 - t).pow(Scalar.op_Implicit 2.0) + t.pow(Scalar.op_Implicit 2.0))
    mu + c.unsqueeze(1L) * (xt - mu)
let fittedPrior = match config.Prior.Centre with Origin -> false | _ -> true
let predictorsOf (flow: Flow) = [ Flow.predict flow; zooMean ] @ (if fittedPrior && not standardize then [ gaussLinear ] else [])
let first = int (env "FIRST" "0")
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let cpu0 = cpu ()
let sw = Diagnostics.Stopwatch.StartNew()
let f4 (x: float) = x.ToString("0.0000", Globalization.CultureInfo.InvariantCulture)
let fg (x: float) = x.ToString("0.####e0", Globalization.CultureInfo.InvariantCulture)
printfn "# standardize %b; %s %s %s width %d layers %d batch %d iter %d lr %g time %s pred %A prior %s; %d targets; threads %d; load %s"
    standardize (FlowKind.text config.Flow) (VelocityKind.text model) (Coupling.text config.Coupling) (fst (VelocityConfig.size config.Model))
    (snd (VelocityConfig.size config.Model)) config.BatchSize config.Iterations config.LearningRate (TimeDistribution.text config.Time)
    config.Prediction (Prior.centreText config.Prior.Centre) inSpace.shape[0] threads (File.ReadAllText "/proc/loadavg").[0..13]
printfn "step\tcpu_s\twall_s\ttrain_loss\tflow_by_t\tzoo_mean_by_t\tacc_mean\tacc_min\tbma\tdiversity\tnovelty\tfidelity(floor)"
let opt (x: float option) = x |> Option.map fg |> Option.defaultValue "-"
// the prior's own samples (step 0 of sampling): for the fitted prior, the fitted-Gaussian baseline
let printRow name (row: Evaluation.Row) =
    printfn "%s\t-\t-\t-\t-\t-\t%s\t%s\t%s\t%s\t%s\t%s (%s)" name (f4 row.AccuracyMean) (f4 row.AccuracyMin) (f4 row.Bma.Accuracy)
        (opt row.Diversity) (opt row.NoveltyRatio) (opt row.Fidelity) (opt row.FidelityFloor)
    Console.Out.Flush()
let gaussians (tau: float) =
    for name, draw in [ "diag-gauss", Baselines.gaussianAt; "full-gauss", Baselines.fullGaussianAt ] do
        use gen = Scope.Rng.create 1L
        let g = Scope.noGrad (fun () -> draw tau id gen samples split.Train)
        printRow $"{name}@tau={tau}" (Evaluation.evaluate ctx name g)
        g.Dispose()
let fitPrior () =
    match config.Prior.Centre with
    | FitToTargets st -> Some { config.Prior with Centre = Prior.fit st zoo.Layout split.Train }
    | FitFullToTargets f -> Some { config.Prior with Centre = Prior.fitFull f zoo.Layout split.Train }
    | Origin | Fitted _ -> None
match (let c0 = cpu () in let p = fitPrior () in printfn "# prior fit: %.1f CPU s" (cpu () - c0); p) with
| Some prior ->
    use gen = Scope.Rng.create 1L
    let x0 = Scope.noGrad (fun () -> Prior.sample prior space gen torch.CPU samples)
    printRow "prior" (Evaluation.evaluate ctx "prior" x0)
    if env "RESUME" "0" <> "1" then gaussians 1.0
    // the loss by t bucket of the predictors that need no training (the flow's column: the zoo mean again)
    let byT = LossByTime.evaluate space prior config.Coupling config.BatchSize 5 32 1L inSpace [ zooMean; gaussLinear ]
    printfn "# untrained predictors by t bucket: zoo mean %s; Gaussian-linear %s"
        (byT[0] |> Array.map fg |> String.concat " ") (byT[1] |> Array.map fg |> String.concat " ")
| None ->
    // BASELINES=1: the prior alone for the Origin prior on standardized targets (STANDARDIZE=1, PRIOR_STD=1: N(μ, s²),
    // i.e. the fitted diagonal Gaussian) and the full-covariance Gaussian, at τ 1, with the flow's sample count
    if env "BASELINES" "0" = "1" then gaussians 1.0
let evalOnly = env "EVALONLY" "0" = "1"
if evalOnly && env "RESUME" "0" <> "1" then failwith "EVALONLY=1 needs RESUME=1 (a checkpoint to evaluate)"
let mutable finished = false
let mutable lastLosses = 0
let mutable trainCpu = 0.0   // CPU seconds inside training only (evaluations excluded)
while not finished do
    use cts = new CancellationTokenSource()
    // EVALONLY: cancelled before the first step, so Training.train restores the checkpoint and returns at once
    if evalOnly then cts.Cancel()
    let before = cpu ()
    let r =
        Training.train config zoo.Layout targets (Some ckpt)
            (fun p -> if (p.Step % every = 0 || p.Step = first) && p.Step < config.Iterations then cts.Cancel()) cts.Token
    finished <- (r.Outcome = Completed) || evalOnly
    (match r.Outcome with Diverged s -> failwith $"diverged at {s}" | _ -> ())
    let step = r.Losses.Length
    let seg = r.Losses[lastLosses ..]
    lastLosses <- step
    trainCpu <- trainCpu + (cpu () - before)
    let byT = LossByTime.evaluate space r.Flow.Prior config.Coupling config.BatchSize 5 32 1L inSpace (predictorsOf r.Flow)
    let s = Scope.noGrad (fun () -> Sampling.sample { SamplingConfig.defaults samples with Steps = steps; Seed = 1L } ignore torch.CPU r.Flow)
    let row = Evaluation.evaluate ctx "flow" (toRaw s.Theta)
    s.Theta.Dispose()
    let b (xs: float[]) = xs |> Array.map fg |> String.concat " "
    printfn "%d\t%.0f\t%.0f\t%s\t%s\t%s%s\t%s\t%s\t%s\t%s\t%s\t%s (%s)" step trainCpu sw.Elapsed.TotalSeconds (fg (Array.average seg)) (b byT[0]) (b byT[1])
        (if byT.Length > 2 then " | linear " + b byT[2] else "")
        (f4 row.AccuracyMean) (f4 row.AccuracyMin) (f4 row.Bma.Accuracy) (opt row.Diversity) (opt row.NoveltyRatio) (opt row.Fidelity) (opt row.FidelityFloor)
    Console.Out.Flush()
    // the sampling-noise axis (issue 13): a reduced prior temperature trades novelty for accuracy; the fitted
    // Gaussian at the same tau shows whether the flow adds anything at that noise level
    match env "TAUS" "" with
    | "" -> ()
    | _ when not finished -> ()
    | taus when fittedPrior ->
        for steps in (env "STEPLIST" (string steps)).Split(',') |> Array.map int do
            for tau in taus.Split(',') |> Array.map (fun x -> float (x.Trim())) do
                let c0 = cpu ()
                let s = Scope.noGrad (fun () -> Sampling.sample { SamplingConfig.defaults samples with Steps = steps; Seed = 1L; Temperature = tau } ignore torch.CPU r.Flow)
                printRow $"flow@steps={steps},tau={tau} ({cpu () - c0:F0} CPU s sampling)" (Evaluation.evaluate ctx "flow" s.Theta)
                s.Theta.Dispose()
        for tau in taus.Split(',') |> Array.map (fun x -> float (x.Trim())) do
            if tau <> 1.0 || env "RESUME" "0" = "1" then gaussians tau
    | taus ->
        if config.Prior.Centre <> Origin then failwith "TAUS needs the Origin prior (STANDARDIZE=1 for the standardized flow): the script scales the prior's Std"
        let row name (theta: Tensor) =
            let r = Evaluation.evaluate ctx name theta
            printfn "%s\t-\t-\t-\t-\t-\t%s\t%s\t%s\t%s\t%s\t%s (%s)" name (f4 r.AccuracyMean) (f4 r.AccuracyMin) (f4 r.Bma.Accuracy)
                (opt r.Diversity) (opt r.NoveltyRatio) (opt r.Fidelity) (opt r.FidelityFloor)
            Console.Out.Flush()
        let gmu, gsd = Scope.noGrad (fun () -> split.Train.mean([| 0L |], true), split.Train.std(0L, false, true))
        for tau in taus.Split(',') |> Array.map (fun x -> float (x.Trim())) do
            let flowT = { r.Flow with Prior = { r.Flow.Prior with Std = tau * r.Flow.Prior.Std } }
            // each Euler step count of STEPLIST (default: STEPS alone)
            for steps in (env "STEPLIST" (string steps)).Split(',') |> Array.map int do
                let s = Scope.noGrad (fun () -> Sampling.sample { SamplingConfig.defaults samples with Steps = steps; Seed = 1L } ignore torch.CPU flowT)
                row $"flow@steps={steps},tau={tau}" (toRaw s.Theta)
                s.Theta.Dispose()
            use gen = Scope.Rng.create 1L
            let g = Scope.noGrad (fun () -> gmu + gsd * torch.randn([| int64 samples; gmu.shape[1] |], generator = gen).mul(Scalar.op_Implicit tau))
            row $"gauss@tau={tau}" g
            g.Dispose()
