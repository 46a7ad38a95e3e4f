/// How the main job sizes a CSV task's flows from its data (issue 12 item 2: "any CSV task works without further
/// flags (layout and presets derived from the data, stated in the report)"). The flow presets (`TrainingConfig.cpu`)
/// were sized on UCI's 30-16-16-2 zoo (802 parameters) to a CPU budget per flow. A CSV task keeps those presets with
/// three changes, chosen on dev data (UCI, the seeded blobs of scripts/csv-dev-data.py, and the sklearn wine and
/// iris CSVs, looked at in earlier sessions; README "CSV tasks"):
///
/// 1. The equivariant flows (RT, PNA) get B = 2 times the CPU budget per flow of the UCI preset, spent on iterations:
///      iterations = preset iterations × s,  s = clamp(B · P_ref / P, 1, MaxScale),  P_ref = 802 (UCI), P = the CSV's
///    (the warm-up stays the same fraction of the run). A step of the Relational Transformer costs about ∝ P (its
///    edges are the weights; one thread: 2,000 steps on a 4-16-16-3 zoo, 403 parameters, 129-148 CPU s per RT flow,
///    against 100-140 CPU s for 1,000 steps on UCI), so P_ref / P keeps the UCI preset's CPU per flow and B spends
///    the headroom the 15-minute budget leaves (the UCI job: ~450 CPU s for four flows, two trained at a time on two
///    cores). Why more than UCI's budget: these small zoos punish a weight error more than UCI's (the fitted Gaussian's
///    calibrated CE is 2.8x (wine) and 1.6x (iris) the held-out checkpoints', 1.06x on UCI) while the flows' loss per
///    t bucket, relative to the zoo mean's, was as good as on UCI: the flows need precision, which steps buy (blobs,
///    4-16-16-3: 1,000 → 2,000 steps lowered the Normalized RT's calibrated CE 0.140 → 0.078, the Geometric RT's
///    0.603 → 0.177; with B = 1 wine's Euclidean and Normalized RT and iris' Normalized and Geometric RT still missed
///    the fitted Gaussian by 2.5-8%). A layout of B · P_ref parameters or more keeps the preset (s = 1: never less
///    training); MaxScale bounds s for tiny layouts, whose steps stop shrinking with P (fixed per-step costs).
///    The MLP velocity keeps its preset's iterations (s = 1): it met every bar on the CSVs at 1,000 steps and got
///    worse with more (wine 0.033 → 0.049 calibrated CE at 1,466 steps, iris 0.122 → 0.151 at 1,990), and its steps
///    are cheap.
/// 2. The Euclidean flow with an equivariant model starts from the standardized fitted prior
///    (`PriorCentre.FitToTargets true`, Prior.fs: N(μ, diag σ²) of the training checkpoints, the model reading and
///    writing z = (θ − μ)/σ; its preconditioning is then plain, TrainingConfig.preconditioning) instead of N(0, 0.1²).
///    The prior's scale and centre come from the zoo: a small-fan-in zoo's weights are large against 0.1 and far
///    from 0 (the dev zoo: weight RMS 0.22-0.28 per layer, |mean| 0.13-0.19; UCI's: 0.14-0.21 and 0.08-0.16), and
///    from N(0, 0.1²) the equivariant RT, which must learn each parameter's mean through its positional embeddings,
///    predicted worse than the zoo mean at t < 0.2 (endpoint loss 0.044 against 0.024) even at 2,000 steps, and its
///    samples reached calibrated CE 0.39 (1.06 at 1,000 steps); from the standardized prior predicting the mean is
///    free (0.023 at t < 0.2) and its samples reached 0.168 against the Gaussian's 0.192.
/// 3. The Normalized and Geometric flows with an equivariant model start from the Gaussian fitted to their canonical
///    targets (`FitToTargets false`), as the UCI main job's do (`MainJobConfig.fittedPriorOnUci`: calibrated CE
///    0.0524 → 0.0460 and 0.0500 → 0.0471 on UCI, seed 0): the same reason as rule 2, for the flows whose prior is
///    otherwise uniform directions far from the zoo's neurons.
/// 4. The Euclidean flow with an equivariant model samples at the UCI main job's temperature for it,
///    `MainJobConfig.uciTemperature` (τ = 0.8, chosen on UCI: calibrated CE 0.0477 → 0.0413, seed 0); the other flows
///    at τ = 1, the prior as trained. τ contracts the prior's draw about its centre (x0 = c + τ·(x0 − c),
///    Prior.sampleTempered); here the centre is the standardized fitted prior's, the zoo mean, so τ < 1 draws nearer
///    the zoo's typical network. Why, decided before any run on a new CSV (session 10), from the runs with rules 1-3
///    at τ = 1 (README "CSV tasks"): the Euclidean RT was the one flow that missed the fitted Gaussian, on iris
///    (0.3032 against 0.2652) and wine (0.1887 against 0.1222; a sample at 0.50 accuracy: its samples spread too far),
///    while every other flow met every bar on iris, wine and penguins. Re-sampled after the fact at the UCI value
///    0.8 (same training) it met every bar on all three (iris 0.1280, wine 0.0521, penguins 0.3069; novelty
///    0.57-0.62, down from 0.89-0.92). So the rule takes the UCI value as it is, not a value fitted to those CSVs.
///    The other flows keep τ = 1 rather than UCI's own per-flow values (`uciMlpTemperature`, `uciNormalizedTemperature`,
///    `uciGeometricTemperature`; then 0.9 / 1.1 / 1.1): those were compromises between CE and diversity at two UCI seeds, whereas on
///    the CSVs these flows already met every bar at τ = 1, so nothing argues for moving them.
///    The cost: novelty falls to ~0.6, near the bar of 0.5.
/// The UCI task takes none of this (its flows are the presets plus `MainJobConfig.uciFlow`).
/// Checked once, after rules 1-3 were fixed, on an untouched CSV (the Palmer penguins of npm vega-datasets, 4-16-16-3):
/// every flow's calibrated CE below the fitted Gaussian's, novelty 0.87-0.98; rule 4 was checked once on two more
/// untouched CSVs (vega-datasets' cars and gapminder): every flow's calibrated CE below the fitted Gaussian's (by
/// 2.1-10.3%), novelty 0.58-0.93, the Euclidean RT's the lowest (README "CSV tasks").
namespace WeightFlow

/// What the derivation chose for one layout (stated in the main job's report).
type FlowDerivation =
    { /// Parameters of the task's layout.
      Parameters: int
      /// Parameters of the layout the presets were sized on (UCI's 30-16-16-2).
      ReferenceParameters: int
      /// B: the equivariant flows' CPU budget per flow as a multiple of the UCI preset's (rule 1).
      BudgetMultiple: float
      /// The factor s on the equivariant (RT, PNA) flows' preset iterations (and warm-up); the MLP keeps its preset's.
      IterationScale: float
      /// The Euclidean flow with an equivariant model starts from the standardized fitted prior (rule 2).
      StandardizedEuclidean: bool
      /// The Normalized and Geometric flows with an equivariant model start from the Gaussian fitted to their
      /// canonical targets (rule 3).
      FittedCanonical: bool
      /// The Euclidean flow with an equivariant model samples at this τ (rule 4: the UCI main job's,
      /// `MainJobConfig.uciTemperature`); None: at the job's τ (`--temperature` given, which sets every flow's).
      EuclideanTemperature: float option }

[<RequireQualifiedAccess>]
module FlowDerivation =
    /// The layout `TrainingConfig.cpu` was sized on: UCI's (ZooConfig.uci).
    let referenceLayout = ZooConfig.uci.Layout

    /// B of rule 1: twice the UCI preset's CPU per equivariant flow.
    let budgetMultiple = 2.0

    /// The largest factor on the preset iterations (a layout of B · P_ref / 8 = 200 parameters or fewer).
    let maxScale = 8.0

    /// The derivation for a task's layout (see the module summary); `uciEuclideanTemperature` is the UCI main job's
    /// sampling τ for its Euclidean RT (`MainJobConfig.uciTemperature`, defined after this file), rule 4's τ.
    let derive (uciEuclideanTemperature: float) (layout: Layout) : FlowDerivation =
        Prior.checkTemperature uciEuclideanTemperature
        let p = Layout.paramCount layout
        let pRef = Layout.paramCount referenceLayout
        { Parameters = p; ReferenceParameters = pRef; BudgetMultiple = budgetMultiple
          IterationScale = budgetMultiple * float pRef / float p |> max 1.0 |> min maxScale
          StandardizedEuclidean = true
          FittedCanonical = true
          EuclideanTemperature = Some uciEuclideanTemperature }

    /// A flow's own sampling temperature under the derivation (rule 4): the Euclidean flow with an RT or PNA model
    /// samples at `EuclideanTemperature`; every other flow (and every flow without one) at the job's τ (None).
    let temperature (d: FlowDerivation) (c: TrainingConfig) : float option =
        match c.Flow, VelocityConfig.kind c.Model with
        | Euclidean, (VelocityKind.Rt | VelocityKind.Pna) -> d.EuclideanTemperature
        | _ -> None

    /// A flow's training settings under the derivation: for an RT or PNA model iterations and warm-up times s
    /// (rounded, at least 1), the standardized fitted prior for the Euclidean flow and the fitted prior for the
    /// Normalized and Geometric flows (each only if the preset's prior is the origin's); an MLP as given.
    let apply (d: FlowDerivation) (c: TrainingConfig) : TrainingConfig =
        match VelocityConfig.kind c.Model with
        | VelocityKind.Mlp -> c
        | VelocityKind.Rt | VelocityKind.Pna ->
            let scale (n: int) = if d.IterationScale = 1.0 then n else max 1 (int (System.Math.Round(float n * d.IterationScale)))
            let centre =
                match c.Prior.Centre, c.Flow with
                | Origin, Euclidean when d.StandardizedEuclidean -> FitToTargets true
                | Origin, (Normalized | Geometric) when d.FittedCanonical -> FitToTargets false
                | centre, _ -> centre
            { c with
                Iterations = scale c.Iterations
                Schedule = match c.Schedule with WarmupCosine w -> WarmupCosine (scale w) | s -> s
                Prior = { c.Prior with Centre = centre } }

    /// One sentence for the report.
    let describe (d: FlowDerivation) : string =
        let f (x: float) = x.ToString("0.###", System.Globalization.CultureInfo.InvariantCulture)
        let priors =
            [ if d.StandardizedEuclidean then "the Euclidean RT starts from the standardized Gaussian fitted to its training checkpoints (each parameter's mean and std from the zoo)"
              if d.FittedCanonical then "the Normalized and Geometric RT from the Gaussian fitted to their canonicalized training checkpoints" ]
        $"Flows derived from the data (FlowDerivation): every setting of the CPU presets, which were sized on UCI's {d.ReferenceParameters}-parameter networks; the RT flows get {f d.BudgetMultiple}x the presets' CPU budget per flow, spent on iterations × s with s = clamp({f d.BudgetMultiple} · {d.ReferenceParameters} / {d.Parameters} parameters, 1, {f maxScale}) = {f d.IterationScale} (the warm-up scaled alike; the MLP keeps its preset's iterations; the stages table lists each flow's iterations)"
        + (if priors.IsEmpty then "." else "; " + String.concat "; " priors + ", instead of N(0, 0.1²).")
        + (match d.EuclideanTemperature with
           | Some tau -> $" The Euclidean RT samples at the UCI main job's temperature for it, τ = {f tau}; the other flows at τ = 1."
           | None -> "")
