/// How the main job sizes a CSV task's flows from its data (issue 12 item 2: "any CSV task works without further
/// flags (layout and presets derived from the data, stated in the report)"). The flow presets (`TrainingConfig.cpu`)
/// were sized on UCI's 30-16-16-2 zoo (802 parameters) to a CPU budget per flow. A CSV task keeps those presets with
/// two changes, both measured on dev data that is neither wine nor iris (README "CSV tasks"):
///
/// 1. The same CPU budget per flow, spent on more iterations when the layout is smaller:
///      iterations = preset iterations × s,  s = clamp(P_ref / P, 1, MaxScale),  P_ref = 802 (UCI), P = the CSV's
///    (the warm-up stays the same fraction of the run). A step of the Relational Transformer costs about ∝ P (its
///    edges are the weights; one thread: 2,000 steps on a 4-16-16-3 zoo, 403 parameters, 129-148 CPU s per RT flow,
///    against 100-140 CPU s for 1,000 steps on UCI), so s keeps the main job's CPU time, and its 15-minute budget, as
///    on UCI. On a small zoo the flows were under-trained at the UCI preset's 1,000 steps: on a seeded 4-feature,
///    3-class synthetic CSV (4-16-16-3) 2,000 steps lowered the calibrated CE of the Normalized RT's samples from
///    0.140 to 0.078 and the Geometric RT's from 0.603 to 0.177, against the fitted Gaussian's 0.189. A layout larger
///    than UCI's keeps the preset (s = 1: it costs more, never less training); MaxScale bounds s for tiny layouts,
///    whose steps stop shrinking with P (fixed per-step costs).
/// 2. The Euclidean flow with an equivariant model (RT, PNA) starts from the standardized fitted prior
///    (`PriorCentre.FitToTargets true`, Prior.fs: N(μ, diag σ²) of the training checkpoints, the model reading and
///    writing z = (θ − μ)/σ; its preconditioning is then plain, TrainingConfig.preconditioning) instead of N(0, 0.1²).
///    The prior's scale and centre come from the zoo: a small-fan-in zoo's weights are large against 0.1 and far
///    from 0 (the dev zoo: weight RMS 0.22-0.28 per layer, |mean| 0.13-0.19; UCI's: 0.14-0.21 and 0.08-0.16), and
///    from N(0, 0.1²) the equivariant RT, which must learn each parameter's mean through its positional embeddings,
///    predicted worse than the zoo mean at t < 0.2 (endpoint loss 0.044 against 0.024) even at 2,000 steps, and its
///    samples reached calibrated CE 0.39 (1.06 at 1,000 steps); from the standardized prior predicting the mean is
///    free (0.023 at t < 0.2) and its samples reached 0.168 against the Gaussian's 0.192. The MLP velocity keeps
///    the origin prior (it met every bar on the CSVs with it).
/// The UCI task takes none of this (its flows are the presets as they are). At UCI's own layout s = 1 exactly.
namespace WeightFlow

/// What the derivation chose for one layout (stated in the main job's report).
type FlowDerivation =
    { /// Parameters of the task's layout.
      Parameters: int
      /// Parameters of the layout the presets were sized on (UCI's 30-16-16-2).
      ReferenceParameters: int
      /// The factor s on every flow's preset iterations (and warm-up).
      IterationScale: float
      /// The Euclidean flow with an equivariant model starts from the standardized fitted prior (rule 2).
      StandardizedEuclidean: bool }

[<RequireQualifiedAccess>]
module FlowDerivation =
    /// The layout `TrainingConfig.cpu` was sized on: UCI's (ZooConfig.uci).
    let referenceLayout = ZooConfig.uci.Layout

    /// The largest factor on the preset iterations (a layout of P_ref / 4 = 200 parameters or fewer).
    let maxScale = 4.0

    /// The derivation for a task's layout (see the module summary).
    let derive (layout: Layout) : FlowDerivation =
        let p = Layout.paramCount layout
        let pRef = Layout.paramCount referenceLayout
        { Parameters = p; ReferenceParameters = pRef
          IterationScale = float pRef / float p |> max 1.0 |> min maxScale
          StandardizedEuclidean = true }

    /// A flow's training settings under the derivation: iterations and warm-up times s (rounded, at least 1), and
    /// for the Euclidean flow with an RT or PNA model the standardized fitted prior; every other setting as given.
    let apply (d: FlowDerivation) (c: TrainingConfig) : TrainingConfig =
        let scale (n: int) = if d.IterationScale = 1.0 then n else max 1 (int (System.Math.Round(float n * d.IterationScale)))
        let equivariant = match VelocityConfig.kind c.Model with VelocityKind.Rt | VelocityKind.Pna -> true | VelocityKind.Mlp -> false
        { c with
            Iterations = scale c.Iterations
            Schedule = match c.Schedule with WarmupCosine w -> WarmupCosine (scale w) | s -> s
            Prior =
                if d.StandardizedEuclidean && equivariant && c.Flow = Euclidean && c.Prior.Centre = Origin then
                    { c.Prior with Centre = FitToTargets true }
                else c.Prior }

    /// One sentence for the report.
    let describe (d: FlowDerivation) : string =
        let s = d.IterationScale.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)
        $"Flows derived from the data (FlowDerivation): every setting of the CPU presets, which were sized on UCI's {d.ReferenceParameters}-parameter networks, and the same CPU budget per flow, spent on iterations × s with s = clamp({d.ReferenceParameters} / {d.Parameters} parameters, 1, {maxScale}) = {s} (the warm-up scaled alike; the stages table lists each flow's iterations)" + (if d.StandardizedEuclidean then "; the Euclidean RT starts from the standardized Gaussian fitted to its training checkpoints (each parameter's mean and std from the zoo) instead of N(0, 0.1²)." else ".")
