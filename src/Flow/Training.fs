/// Flow-matching training (thesis §6.3, anchors §5; issue 11 item 6): each step draws a minibatch of targets x1,
/// fresh prior samples x0 and times t, couples the pairs, builds x_t on the path, and regresses the model's
/// (projected) prediction onto x1 (or u_t). Adam with an optional warm-up + cosine schedule, gradient-norm clipping
/// and an EMA of the weights; checkpoints every N steps (model, optimizer, EMA, step, generator state, losses) so
/// that a resumed run reproduces the uninterrupted run's losses exactly; cancellation saves and returns; a
/// non-finite loss stops before the update, keeping the last good checkpoint. Every step runs in its own dispose
/// scope, so memory stays flat.
namespace WeightFlow

open System
open System.Diagnostics
open System.Threading
open TorchSharp

/// Learning-rate schedule.
type Schedule =
    | Constant
    /// Linear warm-up over `warmup` steps, then cosine decay to 0 at the last iteration.
    | WarmupCosine of warmup: int

/// Everything that defines a training run (a resumed run must have the same).
[<NoEquality; NoComparison>]
type TrainingConfig =
    { Flow: FlowKind
      /// σ of the Gaussian path (Euclidean, Normalized).
      Sigma: float
      Coupling: Coupling
      Time: TimeDistribution
      Prior: Prior
      /// Temperature τ_train > 0 of the training x0 draw, x0 = c + τ·(x0 − c) about the prior's centre
      /// (`Prior.sampleTempered`; 1 = the prior as fitted). Issue 13 (docs/mnist/taut.md): a flow sampled at τ < 1
      /// meets x0 it never saw in training unless it is trained at that τ. The stored prior stays untempered, so
      /// sampling at τ = τ_train draws from the training distribution.
      PriorTemperature: float
      Prediction: Prediction
      /// How the model's input and output are scaled along the path (Flow/Preconditioning; Euclidean and Normalized
      /// flows only): the scales are fitted from the targets when training starts and stored with the flow.
      Preconditioning: PreconditioningKind
      Model: VelocityConfig
      Iterations: int
      BatchSize: int
      LearningRate: float
      Schedule: Schedule
      /// Gradient-norm clipping (None: off).
      ClipNorm: float option
      EmaDecay: float
      /// A checkpoint every this many steps (with a checkpoint path).
      CheckpointEvery: int
      Seed: int64 }

/// Progress, reported after every step.
type TrainingProgress = { Step: int; Total: int; Loss: float; IterationsPerSecond: float }

/// How a run ended.
type TrainingOutcome =
    | Completed
    /// Cancelled after `step` completed steps (the checkpoint holds them).
    | Cancelled of step: int
    /// The loss or a gradient at step `step` (1-based) was not finite; nothing was updated, the last checkpoint is kept.
    | Diverged of step: int

[<NoEquality; NoComparison>]
type TrainingResult =
    { Flow: Flow
      /// Every step's loss from step 1 (including the steps before a resume).
      Losses: float[]
      Outcome: TrainingOutcome
      /// Wall-clock seconds of this call (not of earlier, resumed parts).
      Seconds: float }

[<RequireQualifiedAccess>]
module TrainingConfig =
    /// The thesis' setting (appendix A, UCI; a GPU budget): RT d_E 64, 5 layers, batch 32, 250k iterations, σ 1e-4,
    /// Adam 1e-3 without schedule or clipping; plus the EMA (0.999). Other kinds at the same width and depth.
    let thesis (flow: FlowKind) (kind: VelocityKind) =
        { Flow = flow; Sigma = 1e-4; Coupling = Independent; Time = TimeDistribution.defaults; Prior = Prior.defaults
          PriorTemperature = 1.0
          Prediction = Endpoint; Preconditioning = PreconditioningKind.Plain; Model = VelocityConfig.defaults kind 64 5
          Iterations = 250_000; BatchSize = 32; LearningRate = 1e-3; Schedule = Constant; ClipNorm = None
          EmaDecay = 0.999; CheckpointEvery = 1000; Seed = 0L }

    /// Sized for 2 CPU cores on UCI (each flow within ~4 minutes; measured times in the README): RT and PNA at width
    /// 16 with 3 layers (evaluation-findings.md: the RT at d 16 reached its final quality within 5 minutes, d 32 was
    /// twice as slow per step for no gain), the MLP 3 × 512 (the prototype's); batch 32; warm-up + cosine; clipping
    /// at gradient norm 1. The Geometric flow with an equivariant model (RT, PNA) uses the symmetry-aware coupling:
    /// on the aligned UCI zoo (README "UCI flows against baselines", seed 0) the Geometric RT's calibrated CE was
    /// 0.075 (independent) and 0.073 (OT, one sample at 0.60 accuracy) against the fitted Gaussian's 0.053, and 0.029
    /// with symmetry (every bar met). The MLP keeps independent pairs (it can follow the zoo's one neuron order);
    /// the Euclidean RT keeps them (with the edm preconditioning the symmetry-aware coupling gave calibrated CE
    /// 0.0647-0.0701 against independent pairs' 0.0535-0.0617, seed 0). From the prior fitted to the canonical
    /// targets (the UCI main job's Geometric RT, `MainJobConfig.fittedPriorOnUci`) the coupling matters far less:
    /// calibrated CE 0.0441 (independent), 0.0511 (OT), 0.0478 (symmetry), 0.0461 (symmetry+OT, 2.2x the CPU) against
    /// the Gaussian's 0.0494, seed 0 (README "The four couplings on the Geometric RT flow"); symmetry kept.
    /// The Normalized and Geometric flows with an equivariant model (RT, PNA; measured with the RT) use the
    /// symmetry-aware coupling, predict x̂1 through a velocity and train at learning rate 3e-3 (README "UCI flows
    /// against baselines", robustness runs): with plain x̂1 output and 1e-3 their samples depended on the run (seed,
    /// and the thread count through float summation order): the Normalized RT's calibrated CE was 0.029 at one thread
    /// and 0.285 at two (a quarter of its samples dead networks, at 0.02-0.58 accuracy: trajectories that never
    /// commit their last layer to their hidden neurons), the Geometric RT's 0.029 at seed 0 and 0.074-0.081 at seed 1
    /// or two threads (samples pulled towards one network: diversity 0.5x, the late x̂1 ~0.3 rad off x_t per neuron).
    /// Through a velocity the late prediction is x_t plus a shrinking correction (loss in t ∈ [0.8, 1] 0.11 -> 0.02
    /// geometric), at 3e-3 the loss is lower in every t bucket, and with symmetry-aware pairs the Normalized RT's
    /// small-t loss falls below its zoo-mean predictor: no dead samples, MMD² at its floor, in the same ~100-140 CPU s.
    /// Still missed with these settings: calibrated CE below the fitted Gaussian's (0.054-0.060 against 0.051-0.053 at
    /// seeds 0 and 1, one and two threads; held-out checkpoints 0.049-0.050).
    /// The MLP predicts x̂1 through a velocity (EndpointViaVelocity, the x1 loss kept): its plain x̂1 output passes
    /// through a 512-wide stream, narrower than the 802 weights of a 30-16-16-2 network, so it cannot even copy x_t at
    /// t ≈ 1 (loss 0.0092 in t ∈ [0.8, 1] against the zoo mean's 0.0122) and its samples sat near the zoo mean
    /// (calibrated CE 0.077 at 1,000 steps, 0.065 at 3,000, against the fitted Gaussian's 0.053). With
    /// x̂1 = x_t + (1 - t) v: 0.0003 in [0.8, 1], calibrated CE 0.049, MMD² at its floor, every issue-11 bar met
    /// (README "UCI flows against baselines", seed 0, 39 CPU s).
    /// The Euclidean RT uses EDM's preconditioning with its loss weight (PreconditioningKind.EdmWeighted, Flow/
    /// Preconditioning): without it the RT's x̂1 near t = 1 could not reproduce x_t (loss 0.0018 in t ∈ [0.8, 1]
    /// against 0.0002 with it) and at t = 0 it predicted ≈ x_t, so samples stayed at the prior's scale: accuracy
    /// 0.57 (min 0.05), calibrated CE 0.62. With edm-weighted (seed 0, one thread, 111 CPU s): accuracy 0.984 (min
    /// 0.965), calibrated CE 0.0535 (median 0.0510) against the fitted Gaussian's 0.0532 and the held-out 0.0500,
    /// novelty 1.04, diversity 2.13x the held-out's: two bars still narrowly missed (README "UCI flows against
    /// baselines", "The Euclidean RT with preconditioning"). Input scaling alone changed nothing (accuracy 0.58): the
    /// output's c_skip·x_t + c_out·F is what matters. The prior stays N(0, 0.1²) (0.15 and 0.2 were no better).
    let cpu (flow: FlowKind) (kind: VelocityKind) =
        let width = match kind with VelocityKind.Mlp -> 512 | VelocityKind.Rt | VelocityKind.Pna -> 16
        let canonicalGraph =
            match flow, kind with
            | (Normalized | Geometric), (VelocityKind.Rt | VelocityKind.Pna) -> true
            | _ -> false
        let coupling = if canonicalGraph then SymmetryAware else Independent
        let prediction =
            match kind with
            | VelocityKind.Mlp -> EndpointViaVelocity
            | VelocityKind.Rt | VelocityKind.Pna -> if canonicalGraph then EndpointViaVelocity else Endpoint
        let lr = if canonicalGraph then 3e-3 else 1e-3
        { thesis flow kind with
            Model = VelocityConfig.defaults kind width 3; Coupling = coupling; Prediction = prediction; LearningRate = lr
            Preconditioning =
                match flow, kind with
                | Euclidean, VelocityKind.Rt -> PreconditioningKind.EdmWeighted
                | _ -> PreconditioningKind.Plain
            Iterations = 1000; Schedule = WarmupCosine 100; ClipNorm = Some 1.0; CheckpointEvery = 250 }

    /// The preconditioning a run uses: its setting with the prior N(0, s² I), plain with a fitted or standardized
    /// prior (Prior.fs), which brings its own per-parameter scales (the standardized prior's model already reads
    /// and writes unit-scale z) and whose runs were measured without preconditioning (README "MNIST flows").
    let preconditioning (c: TrainingConfig) =
        match c.Prior.Centre with
        | Origin -> c.Preconditioning
        | FitToTargets _ | FitFullToTargets _ | Fitted _ -> PreconditioningKind.Plain

    let validate (c: TrainingConfig) =
        Check.arg "Iterations" (c.Iterations >= 1) $"Iterations must be >= 1; got {c.Iterations}."
        Check.arg "BatchSize" (c.BatchSize >= 1) $"BatchSize must be >= 1; got {c.BatchSize}."
        Check.arg "LearningRate" (c.LearningRate > 0.0 && Double.IsFinite c.LearningRate) $"LearningRate must be finite and > 0; got {c.LearningRate}."
        Check.arg "Sigma" (c.Sigma >= 0.0 && Double.IsFinite c.Sigma) $"Sigma must be finite and >= 0; got {c.Sigma}."
        Check.arg "Prior" (c.Prior.Std > 0.0 && Double.IsFinite c.Prior.Std) $"The prior's std must be finite and > 0; got {c.Prior.Std}."
        Check.arg "PriorTemperature" (c.PriorTemperature > 0.0 && Double.IsFinite c.PriorTemperature)
            $"PriorTemperature (the training x0's temperature about the prior's centre) must be finite and > 0 (1 = the prior as fitted); got {c.PriorTemperature}."
        Check.arg "EmaDecay" (c.EmaDecay >= 0.0 && c.EmaDecay < 1.0) $"EmaDecay must lie in [0, 1); got {c.EmaDecay}."
        c.ClipNorm |> Option.iter (fun x -> Check.arg "ClipNorm" (x > 0.0 && Double.IsFinite x) $"ClipNorm must be finite and > 0; got {x}.")
        Check.arg "CheckpointEvery" (c.CheckpointEvery >= 1) $"CheckpointEvery must be >= 1; got {c.CheckpointEvery}."
        TimeDistribution.validate c.Time
        match c.Prior.Centre with
        | FitFullToTargets f ->
            Check.arg "Prior" (f.Rank >= 1) $"The full-covariance prior keeps Rank >= 1 principal directions (FitFullToTargets); got {f.Rank}."
            Check.arg "Prior" (not f.LinearSkip || (f.Standardized && c.Prediction = Endpoint))
                $"The full-covariance prior's linear skip acts on the standardized coordinates' x1-prediction; use Standardized = true and endpoint prediction, or LinearSkip = false."
        | Origin | FitToTargets _ | Fitted _ -> ()
        match c.Prior.Centre, c.Flow with
        | (FitToTargets true | FitFullToTargets { Standardized = true } | Fitted { Standardized = true }), (Normalized | Geometric) ->
            invalidArg "Prior" $"The standardized prior works in per-parameter standardized coordinates, which exist only for the Euclidean flow (the {FlowKind.text c.Flow} flow's space is a product of spheres); use the Euclidean flow or the fitted prior without standardization."
        | _ -> ()
        if preconditioning c <> PreconditioningKind.Plain && c.Flow = Geometric then
            Check.arg "Preconditioning" false $"The {PreconditioningKind.text c.Preconditioning} preconditioning rescales the Gaussian path's x_t; the Geometric flow's geodesic path keeps x_t on the spheres. Use plain with the Geometric flow."
        if (preconditioning c = PreconditioningKind.Edm || preconditioning c = PreconditioningKind.EdmWeighted) && c.Prediction <> Endpoint then
            Check.arg "Preconditioning" false $"The edm preconditioning writes x̂1 = c_skip·x_t + c_out·F, an endpoint; with {Prediction.text c.Prediction} prediction use plain or input."

    let private inv (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)

    /// The run's settings as header entries (checked on resume).
    let toMetadata (c: TrainingConfig) : (string * string) list =
        [ "train.flow", FlowKind.text c.Flow; "train.sigma", inv c.Sigma; "train.coupling", Coupling.text c.Coupling
          "train.time", TimeDistribution.text c.Time; "train.prior_std", inv c.Prior.Std
          "train.prediction", Prediction.text c.Prediction
          "train.iterations", string c.Iterations; "train.batch", string c.BatchSize; "train.lr", inv c.LearningRate
          "train.schedule", (match c.Schedule with Constant -> "constant" | WarmupCosine w -> $"warmup-cosine:{w}")
          "train.clip", (match c.ClipNorm with Some x -> inv x | None -> "none"); "train.ema", inv c.EmaDecay
          "train.seed", string c.Seed ]
        // only a non-default centre adds an entry, so the identity of existing checkpoints is unchanged
        @ (match c.Prior.Centre with Origin -> [] | centre -> [ "train.prior_centre", Prior.centreText centre ])
        @ (match c.Prior.Centre with
           | FitFullToTargets f -> ("train.prior_rank", string f.Rank) :: (if f.LinearSkip then [ "train.prior_skip", "linear" ] else [])
           | _ -> [])
        @ (match preconditioning c with PreconditioningKind.Plain -> [] | k -> [ "train.preconditioning", PreconditioningKind.text k ])
        @ (if c.PriorTemperature <> 1.0 then [ "train.prior_temperature", inv c.PriorTemperature ] else [])
        @ VelocityModel.toMetadata c.Model (Layout.create [ 1; 1 ]) |> List.filter (fun (k, _) -> k <> "model.layout")

[<RequireQualifiedAccess>]
module Training =
    /// The learning rate at step s (0-based).
    let learningRate (c: TrainingConfig) (s: int) =
        match c.Schedule with
        | Constant -> c.LearningRate
        | WarmupCosine w ->
            if s < w then c.LearningRate * float (s + 1) / float w
            else
                let span = max 1 (c.Iterations - w)
                c.LearningRate * 0.5 * (1.0 + cos (Math.PI * float (s - w) / float span))

    /// One step's per-network loss [B] (the objective before averaging), from the targets [N, P] (in the space) and
    /// a generator that draws indices, prior samples, times and path noise in a fixed order.
    let stepLosses (c: TrainingConfig) (space: FlowSpace) (model: VelocityModel) (gen: torch.Generator) (targets: Tensor) : Tensor * Tensor =
        let device = targets.device
        let n = targets.shape[0]
        let idx = torch.randint(n, [| int64 c.BatchSize |], generator = gen).``to``(device)
        let x1 = targets.index_select(0L, idx)
        // τ_train = 1 draws bit for bit Prior.sample's tensor (sampleTempered does no arithmetic at τ = 1)
        let x0 = Prior.sampleTempered c.PriorTemperature c.Prior space gen device c.BatchSize
        let t0 = TimeDistribution.sample c.Time gen device c.BatchSize
        // velocity targets divide by 1 - t
        let t = match c.Prediction with Velocity -> t0.clamp_max(scalar (1.0 - 1e-3)) | Endpoint | EndpointViaVelocity -> t0
        let x0, x1 = Coupling.pair c.Coupling space x0 x1
        let xt = Path.sample space.Path gen x0 x1 t
        match Prior.standardize c.Prior space.Layout with
        | None ->
            let out = Preconditioning.apply space.Preconditioning space.Layout (model.On space.Layout) t xt
            match TrainingConfig.preconditioning c, space.Preconditioning with
            | PreconditioningKind.EdmWeighted, ScaledInputOutput s ->
                Preconditioning.weightedLoss s space.Layout t (Objective.endpoint c.Prediction space t xt out) x1, t
            | _ -> Objective.loss c.Prediction space out x0 x1 xt t, t
        | Some (toZ, _) ->
            // the model and the loss in standardized coordinates (Prior.fs, FittedGaussian)
            let zt = toZ xt
            let out = Prior.withSkip c.Prior t zt (model.On space.Layout t zt)
            Objective.loss c.Prediction space out (toZ x0) (toZ x1) zt t, t

    /// The run's preconditioning with its scales: the targets' RMS per group (in the space) and the prior's (s for
    /// the Euclidean flow; measured on 1,024 canonicalized prior samples from a generator of its own for the
    /// Normalized flow, so the training draws are those of a plain run).
    let fitPreconditioning (c: TrainingConfig) (space: FlowSpace) (x1: Tensor) : Preconditioning =
        match TrainingConfig.preconditioning c with
        | PreconditioningKind.Plain -> Unscaled
        | kind ->
            let layout = space.Layout
            let prior =
                match space.Kind with
                | Euclidean -> Array.create (Preconditioning.groupCount layout) c.Prior.Std
                | Normalized | Geometric ->
                    use g = Scope.Rng.create (Scope.Rng.derive c.Seed 3L)
                    Scope.noGrad (fun () -> Scope.value (fun () ->
                        Preconditioning.groupRms layout (Prior.sample c.Prior space g x1.device 1024)))
            Preconditioning.create kind layout { Prior = prior; Data = Preconditioning.groupRms layout x1; Sigma = space.Sigma }

    let private flowOf (c: TrainingConfig) (space: FlowSpace) (ema: Ema) : Flow =
        { Space = space; Prior = c.Prior; Prediction = c.Prediction; Model = ema.Model }

    /// The checkpoint file of a run: identified by its kind, every setting and the layout.
    let checkpointFile (path: string) (c: TrainingConfig) (layout: Layout) : Resumable.StateFile =
        { Path = path
          Description = "training checkpoint (resuming continues from it)"
          Identity = ("weightflow.kind", Checkpoint.Kind) :: ("model.layout", string layout) :: TrainingConfig.toMetadata c }

    /// Whether every parameter's gradient is finite (one fused reduction per parameter).
    let private gradientsFinite (ps: Params.Named) =
        use _ = torch.no_grad ()
        ps |> Seq.forall (fun (_, p) ->
            isNull p.grad || (use ok = torch.isfinite(p.grad).all() in ok.ToBoolean()))

    let private clip (ps: Params.Named) (maxNorm: float) =
        use _ = torch.no_grad ()
        let grads = [| for _, p in ps do if not (isNull p.grad) then yield p.grad |]
        if grads.Length > 0 then
            use norms = torch.stack([| for g in grads -> g.norm() |])
            use total = norms.norm()
            let n = total.ToDouble()
            if n > maxNorm then for g in grads do g.mul_(scalar (maxNorm / (n + 1e-6))) |> ignore

    /// Trains a flow on targets [N, P] (raw weights of `layout`, e.g. an aligned zoo's theta; mapped into the flow's
    /// space here) on the targets' device. With `checkpoint = Some path`, the state is saved there every
    /// CheckpointEvery steps, on cancellation and at the end, and an existing file is resumed from.
    let train (c: TrainingConfig) (layout: Layout) (targets: Tensor) (checkpoint: string option)
              (progress: TrainingProgress -> unit) (ct: CancellationToken) : TrainingResult =
        TrainingConfig.validate c
        Check.shape "targets" [ int targets.shape[0]; Layout.paramCount layout ] targets
        let device = targets.device
        let space0 = FlowSpace.create c.Flow c.Sigma layout
        let x1all = Scope.noGrad (fun () -> Scope.run (fun () -> (FlowSpace.embed space0 targets).contiguous()))
        // the fitted prior (Prior.fs) comes from the raw targets: a pure function of them, so a resumed run refits it
        // identically
        let c =
            match c.Prior.Centre with
            | FitToTargets st -> { c with Prior = { c.Prior with Centre = Prior.fit st layout targets } }
            | FitFullToTargets f -> { c with Prior = { c.Prior with Centre = Prior.fitFull f layout targets } }
            | Origin | Fitted _ -> c
        let space = { space0 with Preconditioning = fitPreconditioning c space0 x1all }
        let model = (use g = Scope.Rng.create (Scope.Rng.derive c.Seed 1L) in VelocityModel.init g device c.Model layout)
        let ema = Ema.create c.EmaDecay device model
        let opt = Optim.create (Optim.adam c.LearningRate) model.Parameters
        let gen = Scope.Rng.create (Scope.Rng.derive c.Seed 2L)
        let file = checkpoint |> Option.map (fun p -> checkpointFile p c layout)
        // one run per checkpoint: a second run on the same file is refused (Busy) instead of interleaving saves
        use _lock = match checkpoint with Some p -> Storage.lock (p + ".lock") $"The flow checkpoint {p}" | None -> null
        let mutable losses : float list =
            match file with
            | Some f -> Checkpoint.restore f model ema opt gen
            | None -> []
        let save () = file |> Option.iter (fun f -> Checkpoint.save f (flowOf c space ema) model ema opt gen losses)
        let sw = Stopwatch.StartNew()
        let startStep = losses.Length
        let mutable outcome = Completed
        let mutable step = startStep
        while outcome = Completed && step < c.Iterations do
            if ct.IsCancellationRequested then
                save ()
                outcome <- Cancelled step
            else
                let o = { opt with Optimizer = Optim.adam (learningRate c step) }
                let value =
                    Scope.value (fun () ->
                        Optim.zeroGrad o
                        let perNetwork, _ = stepLosses c space model gen x1all
                        let l = perNetwork.mean()
                        let v = l.ToDouble()
                        if Double.IsFinite v then
                            l.backward()
                            // a non-finite gradient with a finite loss would poison every weight through Adam:
                            // stop like a non-finite loss, before the step (issue 15)
                            if gradientsFinite model.Parameters then
                                c.ClipNorm |> Option.iter (clip model.Parameters)
                                Optim.step o
                                v
                            else Double.NaN
                        else v)
                Heap.afterStep opt.Heap
                if not (Double.IsFinite value) then outcome <- Diverged (step + 1)
                else
                    Ema.update ema model
                    losses <- value :: losses
                    step <- step + 1
                    progress { Step = step; Total = c.Iterations; Loss = value
                               IterationsPerSecond = float (step - startStep) / max 1e-9 sw.Elapsed.TotalSeconds }
                    if step % c.CheckpointEvery = 0 || step = c.Iterations then save ()
        Optim.dispose opt
        gen.Dispose()
        x1all.Dispose()
        { Flow = flowOf c space ema; Losses = losses |> List.rev |> Array.ofList; Outcome = outcome; Seconds = sw.Elapsed.TotalSeconds }
