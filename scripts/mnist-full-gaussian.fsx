// The Gaussian with the aligned MNIST zoo's full covariance as a generator (issue 13; README "MNIST flows": its
// posterior mean is by far the best linear denoiser, scripts/mnist-denoiser-bounds.fsx). Samples θ = μ + Σ_j ε_j (θ_j − μ)
// / √N over the N training checkpoints (runs 0-44), ε ~ N(0, τ² I): exactly N(μ, τ² C) with C the training targets'
// covariance (population), beside the fitted *diagonal* Gaussian μ + τ·s·ε' (the Table 7.2 baseline), evaluated as
// the flows are (test accuracy, BMA16, diversity, novelty ratio and MMD² against the 5 held-out runs).
//
//   ZOO=/tmp/mnist-exp/zoo-aligned.safetensors [SAMPLES=32] [TAUS=1,0.8] [RANK=512] WEIGHTFLOW_THREADS=1 dotnet fsi scripts/mnist-full-gaussian.fsx
// RANK=K adds the flows' full-covariance prior (Prior.fitFull: top K principal directions plus the residual diagonal)
// sampled at each τ (Prior.sampleTempered, generator seed 1), i.e. a flow from it that learned nothing (the identity).
#load "_load.fsx"
open _load
open System
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let zoo = Zoo.load (env "ZOO" "/tmp/mnist-exp/zoo-aligned.safetensors")
let split = Holdout.lastRuns 5 zoo
let data = Sources.load zoo.Task zoo.Config.Seed
let samples = int (env "SAMPLES" "32")
let space = FlowSpace.create Euclidean 0.0 zoo.Layout
let ctx, _, _ = Scope.noGrad (fun () -> Evaluation.ofHoldout { Evaluation.defaultConfig with BmaK = min 16 samples } (FlowSpace.embed space) data zoo split)
let x = split.Train
let n = x.shape[0]
let mu = Scope.noGrad (fun () -> x.mean([| 0L |], true))
let centred = Scope.noGrad (fun () -> x - mu)
let sd = Scope.noGrad (fun () -> x.std(0L, false, true))
let fg (v: float option) = v |> Option.map (fun x -> x.ToString("0.0000", Globalization.CultureInfo.InvariantCulture)) |> Option.defaultValue "-"
printfn "# %d training checkpoints; %d samples; load %s" n samples (IO.File.ReadAllText "/proc/loadavg").[0..13]
printfn "model\ttau\tacc_mean\tacc_min\tbma16\tdiversity\tnovelty\tmmd2 (floor)"
let taus = (env "TAUS" "1,0.8").Split(',') |> Array.map float
let lowRankPrior =
    match env "RANK" "" with
    | "" -> None
    | k -> Some (k, { Prior.defaults with Centre = Prior.fitFull { Standardized = true; Rank = int k; LinearSkip = false } zoo.Layout x })
for tau in taus do
    use gen = Scope.Rng.create 1L
    let full = Scope.noGrad (fun () -> mu + torch.randn([| int64 samples; n |], generator = gen).mul(Scalar.op_Implicit (tau / sqrt (float n))).matmul(centred))
    let diag = Scope.noGrad (fun () -> mu + sd * torch.randn([| int64 samples; mu.shape[1] |], generator = gen).mul(Scalar.op_Implicit tau))
    let lowRank =
        match lowRankPrior with
        | None -> []
        | Some (k, prior) ->
            use g = Scope.Rng.create 1L
            [ $"rank-{k} prior", Scope.noGrad (fun () -> Prior.sampleTempered tau prior space g torch.CPU samples) ]
    for name, theta in [ "full-covariance Gaussian", full; "diagonal Gaussian", diag ] @ lowRank do
        let r = Evaluation.evaluate ctx name theta
        printfn "%s\t%g\t%.4f\t%.4f\t%.4f\t%s\t%s\t%s (%s)" name tau r.AccuracyMean r.AccuracyMin r.Bma.Accuracy (fg r.Diversity) (fg r.NoveltyRatio) (fg r.Fidelity) (fg r.FidelityFloor)
        Console.Out.Flush()
