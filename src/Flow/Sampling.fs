/// Sampling networks from a trained flow (issue 11 item 7, thesis §6.5) by composing the pieces of Ode/: the prior
/// for a target layout (wider than trained if the model allows it, thesis §7.3.4), the field of the flow's
/// x1-prediction, a solver kept off t = 1, optional noise in a time window and optional guidance on a task; and the
/// log-likelihood of given networks under a Euclidean flow (Likelihood/, thesis §3.4). Samples files: safetensors
/// with `theta` [N, P] and the layout and sampling settings in the header, written atomically.
namespace WeightFlow

open System
open TorchSharp

/// How the x1-prediction becomes a velocity (see `EndpointRule`).
[<RequireQualifiedAccess>]
type VelocityRule =
    /// log_{x_t}(x̂1)/(1 - t) (Euclidean: (x̂1 - x_t)/(1 - t)); the default.
    | Conditional
    /// The anchor code's x̂1 - x0 (pitfall P4), for parity. Guidance under it accumulates: the sample is the
    /// average of the per-step predictions minus λ·Σ∇L·dt (anchors §6), where the conditional rule steers a
    /// displacement that leaves x̂1 unchanged back by t = 1 (`Guidance.guided`).
    | AnchorDisplacement
    /// Velocity 0: the flow is not evaluated and the sample is the prior draw moved by guidance alone, i.e. gradient
    /// descent on the task loss from the prior with step λ·dt and the same minibatches (x ← x − λ·∇L·dt). The
    /// honest control of a guided transfer (Table 7.3, 7.4): what guidance does without the flow.
    | PriorOnly

/// The rules' names on the command line (`sample --rule`), in flow-file metadata and in reproduction cache keys.
[<RequireQualifiedAccess>]
module VelocityRule =
    let name (r: VelocityRule) =
        match r with
        | VelocityRule.Conditional -> "conditional"
        | VelocityRule.AnchorDisplacement -> "anchor"
        | VelocityRule.PriorOnly -> "prior-only"

/// Where guidance takes the task-loss gradient.
[<RequireQualifiedAccess>]
type GuideAt =
    | State
    | Prediction

/// Guidance on a task: strength λ, where the gradient is taken, the task's training split and the minibatch size
/// drawn afresh for every field evaluation.
[<NoEquality; NoComparison>]
type TaskGuidance = { Lambda: float; At: GuideAt; Data: Dataset; Batch: int }

[<NoEquality; NoComparison>]
type SamplingConfig =
    { /// Networks to sample.
      Count: int
      /// Solver steps K (K + 1 grid points on [0, 1]).
      Steps: int
      Method: Method
      Rule: VelocityRule
      /// Noise in a time window (thesis §6.5); None = deterministic.
      Noise: Transform.Noise option
      Guidance: TaskGuidance option
      /// The networks' layout; None = the layout the flow was trained on.
      Layout: Layout option
      /// Networks integrated together (memory bound for large layouts or models).
      BatchSize: int
      /// Sampling temperature τ >= 0 on the prior draw, x0 = c + τ·(x0 − c) about the prior's centre c
      /// (`Prior.sampleTempered`: for the canonical flows with the isotropic prior only the biases are scaled).
      /// 1 = the prior as trained (the default), 0 = the centre: one network for every sample; τ > 1 widens the draw
      /// beyond the prior the flow was trained on (the UCI main job's canonical RT flows, `MainJobConfig.uciFlow`).
      Temperature: float
      Seed: int64 }

/// Sampled networks: the finite ones, and how many came out non-finite (dropped, never returned silently).
[<NoEquality; NoComparison>]
type SamplingResult =
    { Layout: Layout
      /// [N_finite, P] float32, in the flow's space (canonical weights for the Normalized and Geometric flows).
      Theta: Tensor
      /// Indices (in sampling order) of samples with a NaN or infinite coordinate.
      NonFinite: int[]
      Seconds: float }

[<RequireQualifiedAccess>]
module SamplingConfig =
    /// 100 Euler steps, deterministic, no guidance, the trained layout, batches of 64, temperature 1, seed 0.
    let defaults (count: int) =
        { Count = count; Steps = 100; Method = Method.Euler; Rule = VelocityRule.Conditional; Noise = None
          Guidance = None; Layout = None; BatchSize = 64; Temperature = 1.0; Seed = 0L }

    let validate (c: SamplingConfig) =
        Check.arg "count" (c.Count >= 1) $"--count must be at least 1; got {c.Count}."
        Check.arg "steps" (c.Steps >= 1) $"--steps must be at least 1; got {c.Steps}."
        Check.arg "batch" (c.BatchSize >= 1) $"The batch size must be at least 1; got {c.BatchSize}."
        Check.arg "temperature" (Double.IsFinite c.Temperature && c.Temperature >= 0.0)
            $"--temperature must be a finite number >= 0 (1 = the prior as trained, 0 = its centre); got {c.Temperature}."
        c.Noise |> Option.iter Transform.checkNoise
        c.Guidance |> Option.iter (fun g ->
            Check.arg "guidance" (g.Lambda >= 0.0 && not (Double.IsInfinity g.Lambda)) $"--guidance must be finite and >= 0; got {g.Lambda}."
            Check.arg "guidance" (g.Batch >= 1) $"The guidance minibatch must hold at least one row; got {g.Batch}.")

[<RequireQualifiedAccess>]
module Sampling =
    let private inv (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// The flow's vector field on `layout` for trajectories starting at x0 (x0 is used by the anchor rule only).
    let field (flow: Flow) (layout: Layout) (rule: VelocityRule) (x0: Tensor) : VectorField =
        let m = (Flow.spaceOn flow layout).Manifold
        let predict = Flow.predictOn flow layout
        match rule with
        | VelocityRule.Conditional -> Field.ofPrediction m TowardsPrediction predict
        | VelocityRule.AnchorDisplacement -> Field.ofPrediction m (FromInitial x0) predict
        | VelocityRule.PriorOnly -> fun _ x -> torch.zeros_like x

    /// The task loss for guidance: each network's mean cross-entropy on `batch` fresh training rows per call.
    let taskLoss (layout: Layout) (data: Dataset) (batch: int) (gen: torch.Generator) (device: Device) : Tensor -> Tensor =
        let x = data.Train.X.``to``(device)
        let y = data.Train.Y.``to``(device)
        Guidance.minibatches gen (int x.shape[0]) batch (fun rows theta ->
            Mlp.crossEntropy layout theta (x.index_select(0L, rows)) (y.index_select(0L, rows)))

    /// The solver step: the method on the flow's manifold, its last step kept off t = 1 (`Transform.avoidOne`),
    /// noise injected before each step in the window.
    let step (m: Manifold) (config: SamplingConfig) (noiseGen: torch.Generator) : Step =
        let s = Transform.avoidOne m (Solver.onManifold m config.Method)
        match config.Noise with
        | Some n -> Transform.stochastic m n noiseGen s
        | None -> s

    /// Samples `config.Count` networks (under no_grad, except guidance's own gradient), in batches, reporting every
    /// finished step through `progress` (steps done across all batches). Randomness: the prior from `Seed`, noise and
    /// guidance minibatches from streams derived from it (`Scope.Rng.derive`), so a seed fixes the samples.
    let sample (config: SamplingConfig) (progress: int -> unit) (device: Device) (flow: Flow) : SamplingResult =
        SamplingConfig.validate config
        let layout = defaultArg config.Layout (Flow.layout flow)
        let space = Flow.spaceOn flow layout
        config.Guidance |> Option.iter (fun g -> Dataset.checkFits "The sampled networks (guided by the task's loss)" layout g.Data)
        let m = space.Manifold
        let sw = Diagnostics.Stopwatch.StartNew()
        use priorGen = Scope.Rng.create config.Seed
        use noiseGen = Scope.Rng.create (Scope.Rng.derive config.Seed 1L)
        use lossGen = Scope.Rng.create (Scope.Rng.derive config.Seed 2L)
        let loss = config.Guidance |> Option.map (fun g -> g, taskLoss layout g.Data g.Batch lossGen device)
        let grid = TimeGrid.uniform config.Steps
        let stepFn = step m config noiseGen
        let batches = (config.Count + config.BatchSize - 1) / config.BatchSize
        let parts =
            [ for b in 0 .. batches - 1 ->
                let n = min config.BatchSize (config.Count - b * config.BatchSize)
                use x0 = Prior.sampleTempered config.Temperature flow.Prior space priorGen device n
                let f = field flow layout config.Rule x0
                let f =
                    match loss with
                    | Some (g, l) ->
                        let at = match g.At with GuideAt.State -> AtState | GuideAt.Prediction -> AtEndpoint(Flow.predictOn flow layout)
                        Guidance.guided m { Lambda = g.Lambda; At = at } l f
                    | None -> f
                Integrate.observed (fun k _ _ -> if k > 0 then progress (b * config.Steps + k)) stepFn f grid x0 ]
        use all = torch.cat(Array.ofList parts, 0L)
        for p in parts do p.Dispose()
        use finite = torch.isfinite(all).all(1L)
        let ok = finite.cpu().data<bool>().ToArray()
        let bad = [| for i in 0 .. ok.Length - 1 do if not ok[i] then yield i |]
        let theta =
            if bad.Length = 0 then all.cpu().to_type(torch.float32)
            else
                use idx = torch.tensor([| for i in 0 .. ok.Length - 1 do if ok[i] then yield int64 i |])
                all.index_select(0L, idx.``to``(all.device)).cpu().to_type(torch.float32)
        { Layout = layout; Theta = theta; NonFinite = bad; Seconds = sw.Elapsed.TotalSeconds }

    /// Guidance alone from given networks x0 [B, P] in raw weights (no flow): K Euler steps of x ← x − λ·∇L·dt on the
    /// task's fresh minibatches (their stream derived from `seed` as in `sample`), i.e. what the prior-only rule does
    /// from a flow's prior draws, here from any initialisation — Table 7.3 / 7.4's control "N(0, 0.1² I) + guidance
    /// only", the thesis' isotropic prior moved by guidance without a flow. The gradient is taken at the state.
    let guidanceOnly (steps: int) (guidance: TaskGuidance) (seed: int64) (layout: Layout) (device: Device) (x0: Tensor) : Tensor =
        Check.arg "steps" (steps >= 1) $"--steps must be at least 1; got {steps}."
        Check.shape "x0" [ int x0.shape[0]; Layout.paramCount layout ] x0
        Dataset.checkFits "The guided networks" layout guidance.Data
        let m = Manifold.euclidean (Layout.paramCount layout)
        use lossGen = Scope.Rng.create (Scope.Rng.derive seed 2L)
        let loss = taskLoss layout guidance.Data guidance.Batch lossGen device
        let field = Guidance.guided m { Lambda = guidance.Lambda; At = AtState } loss (fun _ x -> torch.zeros_like x)
        Integrate.run (Transform.avoidOne m (Solver.onManifold m Method.Euler)) field (TimeGrid.uniform steps) x0

    /// The samples file's kind.
    [<Literal>]
    let Kind = "samples"

    /// Writes samples atomically (Storage): `theta` [N, P] float32; header: kind, layout, count, the flow's space
    /// (raw or canonical weights) and any extra entries (the sampling settings).
    let save (path: string) (extra: (string * string) list) (flow: Flow) (result: SamplingResult) =
        let space = match flow.Space.Kind with Euclidean -> "raw" | Normalized | Geometric -> "canonical"
        Storage.write path
            (Map.ofList (extra @ [ "weightflow.kind", Kind; "layout", string result.Layout
                                   "count", string result.Theta.shape[0]; "space", space
                                   "flow.kind", FlowKind.text flow.Space.Kind
                                   "non_finite_dropped", string result.NonFinite.Length ]))
            [ "theta", result.Theta ]

    /// Header entries describing a sampling configuration.
    let metadata (c: SamplingConfig) : (string * string) list =
        [ "sample.steps", string c.Steps
          "sample.solver", (match c.Method with Method.Euler -> "euler" | Method.Heun -> "heun" | Method.Rk4 -> "rk4")
          "sample.rule", VelocityRule.name c.Rule
          "sample.noise", (match c.Noise with Some n -> $"{inv n.Eps}@[{inv n.Start},{inv n.Stop})" | None -> "none")
          "sample.guidance",
          (match c.Guidance with
           | Some g -> inv g.Lambda + "@" + (match g.At with GuideAt.State -> "state" | GuideAt.Prediction -> "prediction")
           | None -> "none")
          "sample.seed", string c.Seed ]
        // Only a tempered prior is recorded, so untempered samples keep the headers (and main-job stage keys) they had.
        @ (if c.Temperature <> 1.0 then [ "sample.temperature", inv c.Temperature ] else [])

    /// Reads a samples file: (layout, theta [N, P], header). Errors name the file and the problem.
    let load (path: string) : Layout * Tensor * (string -> string) =
        let s = Storage.readKind [ Kind ] "a samples file" "Write one with `weightflow sample --flow FLOW --out FILE`." path
        let get = Storage.meta path s
        let layout = Storage.interpret path "samples" (fun () -> Layout.parse (get "layout"))
        let theta = Storage.tensor path s "theta"
        if theta.dim() <> 2L || int theta.shape[1] <> Layout.paramCount layout || theta.dtype <> torch.float32 then
            Check.dataError $"{path}: theta has shape %A{theta.shape} ({theta.dtype}) but a {layout} MLP has {Layout.paramCount layout} float32 parameters; the file is corrupt or was edited."
        use finite = torch.isfinite(theta).all()
        if not (finite.ToBoolean()) then
            Check.fail Check.ErrorKind.NonFinite $"{path}: the sampled weights contain NaN or infinite values; `weightflow sample` drops such samples, so the file was damaged or written elsewhere. Sample again."
        layout, theta, get

    /// log p1 of networks theta [B, P] (in the flow's space) under a Euclidean flow (thesis §3.4): the flow's field
    /// integrated from t = 1 back to 0 with RK4 over `steps` steps (the first step, which would evaluate the field at
    /// t = 1, is an Euler step evaluated at t = 1 - 1/K: `Transform.avoidOne`), the divergence exact or by
    /// Hutchinson's estimator, and log p0 = log N(0, s² I) of the flow's prior. Raises for Normalized and Geometric
    /// flows (see `Likelihood`). Returns [B] float64 values, batch by batch.
    let logLikelihood (divergence: Divergence) (steps: int) (seed: int64) (batch: int) (flow: Flow) (layout: Layout) (theta: Tensor) : float[] =
        let space = Flow.spaceOn flow layout
        if space.Kind <> Euclidean then
            invalidArg "flow" $"Likelihoods are supported for Euclidean flows only; this is a {FlowKind.text space.Kind} flow, whose prior and samples lie on a product of spheres (canonical weights): a null set of R^P with no Lebesgue density, and the canonicalized Gaussian prior has no closed-form density on it. Train a Euclidean flow (weightflow train --flow euclidean) for log-likelihoods."
        if flow.Prior.Centre <> Origin then
            invalidArg "flow" "Likelihoods are supported for flows with the isotropic prior N(0, s² I) only; this flow's prior is fitted to its targets (Prior.fs). Train it without the fitted prior for log-likelihoods."
        Check.arg "steps" (steps >= 1) $"--steps must be at least 1; got {steps}."
        Check.shape "weights" [ int theta.shape[0]; Layout.paramCount layout ] theta
        use gen = Scope.Rng.create seed
        let m = space.Manifold
        let field = Field.ofPrediction m TowardsPrediction (Flow.predictOn flow layout)
        // The likelihood integrates the augmented state [x, ∫div] ([B, P + 1]), so the step's manifold is R^{P+1}.
        let step = Transform.avoidOne (Manifold.euclidean (Layout.paramCount layout + 1)) Solver.rk4
        [| for start in 0 .. batch .. int theta.shape[0] - 1 do
            let n = min batch (int theta.shape[0] - start)
            use x = theta.narrow(0L, int64 start, int64 n)
            use lp = Likelihood.logLikelihood m divergence step (TimeGrid.reversed steps) (Likelihood.logPrior flow.Prior.Std) gen field x
            yield! T.toArray64 lp |]
