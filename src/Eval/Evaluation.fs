/// One evaluation of a set of networks (a generator's samples or a baseline) into one table row: every column of the
/// quality tables of issues 11-12, computed in one batched pass. A `Context` holds what all rows share (data, the
/// zoo's reference, training and held-out checkpoints, the kernel bandwidth, the floors) and is prepared once.
///
/// Columns and where they come from:
/// * accuracy mean/min/std, raw CE, calibrated CE: `Metrics` on the test split, temperatures fitted on the training +
///   validation splits (`Calibration`, `EvalConfig.Calibration.Rows`; issue 12's decision);
/// * BMA: `Bma`, probability averaging (thesis eq. 2.1) of the calibrated predictive distributions at k = min(K, B);
/// * diversity: `Diversity` (D.1), the mean pairwise JSD of the calibrated test-split predictive distributions;
/// * fidelity: `Fidelity`, the two-sample distance `EvalConfig.Fidelity` (default (F.5), MMD²_u of the predictive
///   distributions on fixed probe inputs; docs/fidelity-metric.md) between the networks and the held-out "judge"
///   checkpoints, with its floor (training vs judge checkpoints), and the sliced Wasserstein distance (F.2) of the
///   re-aligned weights with its floor;
/// * novelty: `Novelty` (N.1)-(N.2), against the same judge checkpoints.
[<RequireQualifiedAccess>]
module WeightFlow.Evaluation

open System.Diagnostics
open TorchSharp

/// Evaluation settings.
[<NoEquality; NoComparison>]
type EvalConfig =
    { Calibration: Calibration.CalibrationConfig
      Bma: Bma.BmaConfig
      /// The k of the BMA column (fewer when the set is smaller).
      BmaK: int
      /// Re-alignment of networks to the zoo's reference before weight-space metrics.
      Alignment: Rebasin.WeightMatchingConfig
      /// Diversity is computed over at most this many networks (the first ones): its cost is quadratic.
      DiversityMax: int
      /// Training checkpoints pooled with the judge checkpoints for the bandwidth, and compared with them for the
      /// fidelity floor (a random subset of this size; all when fewer).
      FloorSize: int
      /// Random directions of the sliced Wasserstein distance (F.2).
      Projections: int
      /// The fidelity column's two-sample distance (`Fidelity.Kind`; docs/fidelity-metric.md).
      Fidelity: Fidelity.Kind
      /// Probe inputs of the predictive fidelity metric (F.5): the first this many rows of the validation split (of
      /// the training split when the task has no validation rows).
      ProbeRows: int
      /// Seeds the floor's subset and the directions of (F.2).
      Seed: int64 }

/// Defaults: BMA over 16 networks, diversity over at most 64, a floor subset of 256 training checkpoints, fidelity
/// in predictive space on 256 probe inputs (F.5).
let defaultConfig =
    { Calibration = Calibration.defaultConfig; Bma = Bma.defaultConfig; BmaK = 16
      Alignment = Rebasin.defaultWeightMatching; DiversityMax = 64; FloorSize = 256; Projections = 256
      // the predictive kind by docs/fidelity-metric.md's pre-stated criterion: the only candidate that told the
      // fitted Gaussian (and every other known-wrong generator) from real checkpoints on both zoos
      Fidelity = Fidelity.Kind.Predictive; ProbeRows = 256; Seed = 0L }

/// What the weight-space columns are measured against.
[<NoEquality; NoComparison>]
type ZooReference =
    { Novelty: Novelty.NoveltyReference
      /// Held-out checkpoints that judge (novelty denominator, fidelity target): [H, P].
      Judge: Tensor
      /// h of (F.1) on the re-aligned weights (the median heuristic over the floor's subset and the judge).
      Bandwidth: float
      /// The fidelity column's metric (`EvalConfig.Fidelity`), fixed for every row of the context.
      Metric: Fidelity.Metric
      /// The floor's random subset of the re-aligned training checkpoints ([min(M, FloorSize), P]): the kernels'
      /// bandwidths are fitted on it with the judge, and the floor is measured on it.
      FloorSubset: Tensor
      /// The metric between training and judge checkpoints.
      FidelityFloor: float
      /// SW₂ (F.2) between training and judge checkpoints.
      SlicedWassersteinFloor: float }

/// What every row shares.
[<NoEquality; NoComparison>]
type Context =
    { Config: EvalConfig
      Layout: Layout
      Data: Dataset
      /// The rows every temperature is fitted on (`Calibration.rowsOf Config.Calibration Data`), joined once here.
      CalibrationRows: Split
      /// None: only the function-space columns (no zoo given).
      Zoo: ZooReference option }

/// One row of a quality table. Options are None where a column does not apply (one network has no diversity; no zoo,
/// no novelty or fidelity).
type Row =
    { Name: string
      /// Networks evaluated.
      Count: int
      AccuracyMean: float
      AccuracyMin: float
      AccuracyStd: float
      /// Mean test CE of softmax(z).
      CrossEntropy: float
      /// Mean test CE of softmax(z / T), T per network fitted on the calibration rows (`Calibration.rowsOf`).
      CalibratedCrossEntropy: float
      /// Median over networks of the same (robust to the few networks whose fit stopped at its bound).
      CalibratedCrossEntropyMedian: float
      /// Median fitted temperature.
      TemperatureMedian: float
      /// Networks whose temperature fit stopped at its bound (perfect on every calibration row).
      CalibrationAtBound: int
      /// BMA at k = min(BmaK, Count): accuracy and NLL.
      Bma: Bma.BmaPoint
      /// The BMA curve at k = 1, 2, 4, ..., min(BmaK, Count) (the thesis plots accuracy against the number of samples averaged).
      BmaCurve: Bma.BmaPoint list
      Diversity: float option
      /// The context's fidelity metric (`EvalConfig.Fidelity`) to the judge checkpoints after re-alignment.
      Fidelity: float option
      /// The context's floor, repeated in every row for the tables.
      FidelityFloor: float option
      /// SW₂ (F.2) to the judge checkpoints after re-alignment.
      SlicedWasserstein: float option
      /// Its floor (training vs judge checkpoints).
      SlicedWassersteinFloor: float option
      /// Median distance to the nearest training checkpoint after re-alignment.
      NearestTrainingMedian: float option
      NoveltyRatio: float option
      /// Wall time of this row's evaluation.
      Seconds: float }

/// The part of a cache key that names the fidelity metric: empty for `Rbf` (the only metric before the option existed,
/// so keys cached then stay valid), else ";fidelity=NAME;probe=ROWS". Every cache of rows with a fidelity column
/// appends it, so numbers of different metrics are never mixed.
let fidelityKey (config: EvalConfig) : string =
    if config.Fidelity = Fidelity.Kind.Rbf then ""
    else $";fidelity={Fidelity.Kind.name config.Fidelity};probe={config.ProbeRows}"

/// The probe inputs of the predictive fidelity metric (F.5): the first `ProbeRows` validation rows, or training rows
/// when the task has no validation split.
let probeOf (config: EvalConfig) (data: Dataset) : Tensor =
    let rows = if data.Valid.X.shape[0] > 0L then data.Valid.X else data.Train.X
    rows.narrow(0L, 0L, min rows.shape[0] (int64 config.ProbeRows))

/// Prepares a context. zoo: None, or Some (θ_ref [1, P], training checkpoints [M, P] aligned to θ_ref, judge
/// (held-out) checkpoints [H, P]), all in the space the evaluated networks will be in.
let prepare (config: EvalConfig) (layout: Layout) (data: Dataset) (zoo: (Tensor * Tensor * Tensor) option) : Context =
    Check.arg "config" (config.BmaK >= 1 && config.DiversityMax >= 2 && config.FloorSize >= 2 && config.ProbeRows >= 1)
        $"BmaK >= 1, DiversityMax >= 2, FloorSize >= 2 and ProbeRows >= 1 are needed; got {config.BmaK}, {config.DiversityMax}, {config.FloorSize}, {config.ProbeRows}."
    Dataset.checkFits "The networks" layout data
    let reference =
        zoo |> Option.map (fun (reference, training, judge) ->
            use _ = torch.no_grad ()
            let inputs = [ reference; training; judge ]
            // Re-aligning an MNIST zoo's thousands of checkpoints leaves GBs of temporaries (weight matching, gathers,
            // float64 distance chunks) that no dispose scope owned, so they stayed resident until the GC finalized them
            // and the evaluation's own peak stacked on them (7.1 GB; docs/results/memory-mnist.md). The context keeps
            // only the tensors detached here (the metric detaches its own, `Fidelity.fit`); the rest goes with the scope.
            let z =
                use _ = Scope.enter ()
                let novelty = Novelty.reference config.Alignment layout reference training judge
                let judgeAligned = Novelty.realign config.Alignment layout reference judge
                use g = Scope.Rng.create config.Seed
                let aligned = novelty.Training
                let m = aligned.shape[0]
                let pick = torch.randperm(m, generator = g).narrow(0L, 0L, min m (int64 config.FloorSize)).``to``(aligned.device)
                let subset = aligned.index_select(0L, pick)
                let pooled = torch.cat([| subset; judgeAligned |], 0L)
                let bandwidth = Fidelity.medianBandwidth pooled
                let metric = Fidelity.fit config.Fidelity layout aligned (probeOf config data) config.Seed config.Projections pooled
                // the caller's tensors stay in the caller's scope
                let keep (t: Tensor) = if inputs |> List.exists (fun i -> obj.ReferenceEquals(t, i)) then t else t.DetachFromDisposeScope()
                { Novelty = { novelty with Training = keep novelty.Training; HeldOutDistances = keep novelty.HeldOutDistances }
                  Judge = keep judgeAligned; Bandwidth = bandwidth; Metric = metric; FloorSubset = keep subset
                  FidelityFloor = Fidelity.distance metric subset judgeAligned
                  SlicedWassersteinFloor = Fidelity.slicedWasserstein config.Seed config.Projections subset judgeAligned }
            Heap.release ()
            z)
    { Config = config; Layout = layout; Data = data; CalibrationRows = Calibration.rowsOf config.Calibration data; Zoo = reference }

/// The context with another fidelity metric (its floor and kernels fitted on the same floor subset and judge as
/// `prepare` would): two fidelity columns of one table from one prepared context (docs/fidelity-metric.md).
let withFidelity (kind: Fidelity.Kind) (ctx: Context) : Context =
    let config = { ctx.Config with Fidelity = kind }
    let zoo =
        ctx.Zoo |> Option.map (fun z ->
            use _ = torch.no_grad ()
            use pooled = torch.cat([| z.FloorSubset; z.Judge |], 0L)
            let metric = Fidelity.fit kind ctx.Layout z.Novelty.Training (probeOf config ctx.Data) config.Seed config.Projections pooled
            { z with Metric = metric; FidelityFloor = Fidelity.distance metric z.FloorSubset z.Judge })
    { ctx with Config = config; Zoo = zoo }

/// The context's fidelity metric between networks theta [B, P] (B >= 2), re-aligned to the zoo's reference, and
/// the judge checkpoints; None without a zoo or with one network.
let fidelityOf (ctx: Context) (theta: Tensor) : float option =
    match ctx.Zoo with
    | Some z when theta.shape[0] >= 2L ->
        use _ = torch.no_grad ()
        Scope.value (fun () ->
            let aligned = Novelty.realign ctx.Config.Alignment ctx.Layout z.Novelty.Reference theta
            Some (Fidelity.distance z.Metric aligned z.Judge))
    | _ -> None

/// A seeded random subset of at most `count` networks (rows of theta [N, P]); all of them when N <= count.
let subset (seed: int64) (count: int) (theta: Tensor) : Tensor =
    let n = theta.shape[0]
    if n <= int64 count then theta
    else
        use g = Scope.Rng.create seed
        theta.index_select(0L, torch.randperm(n, generator = g).narrow(0L, 0L, int64 count))

/// Evaluates networks theta [B, P] (B >= 1) into one row named `name`.
let evaluate (ctx: Context) (name: string) (theta: Tensor) : Row =
    let sw = Stopwatch.StartNew()
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let b = int theta.shape[0]
        Check.arg "theta" (b >= 1) "Evaluation needs at least one network."
        let m = Metrics.compute ctx.Config.Calibration ctx.Layout ctx.CalibrationRows ctx.Data.Test theta
        let acc = m.Accuracy.to_type(torch.float64)
        let k = min ctx.Config.BmaK b
        let curve = Bma.curve ctx.Config.Bma k m.CalibratedLogits ctx.Data.Test.Y
        let diversity = Diversity.ofLogits (m.CalibratedLogits.narrow(0L, 0L, int64 (min b ctx.Config.DiversityMax)))
        let novelty, fidelity, sliced =
            match ctx.Zoo with
            | None -> None, None, None
            | Some z ->
                let aligned = Novelty.realign ctx.Config.Alignment ctx.Layout z.Novelty.Reference theta
                let n = Novelty.nearestDistance z.Novelty.Training aligned
                let median = n.median().ToDouble()
                let f = if b >= 2 then Some (Fidelity.distance z.Metric aligned z.Judge) else None
                let sw = Fidelity.slicedWasserstein ctx.Config.Seed ctx.Config.Projections aligned z.Judge
                Some (median, median / z.Novelty.HeldOutMedian), f, Some sw
        { Name = name
          Count = b
          AccuracyMean = acc.mean().ToDouble()
          AccuracyMin = acc.min().ToDouble()
          AccuracyStd = (if b >= 2 then acc.std().ToDouble() else 0.0)
          CrossEntropy = m.CrossEntropy.to_type(torch.float64).mean().ToDouble()
          CalibratedCrossEntropy = m.CalibratedCrossEntropy.to_type(torch.float64).mean().ToDouble()
          CalibratedCrossEntropyMedian = m.CalibratedCrossEntropy.median().ToDouble()
          TemperatureMedian = m.Temperatures.Temperature.median().ToDouble()
          CalibrationAtBound = int (m.Temperatures.AtBound.sum().ToInt64())
          Bma = List.last curve
          BmaCurve = curve
          Diversity = diversity
          Fidelity = fidelity
          FidelityFloor = ctx.Zoo |> Option.map (fun z -> z.FidelityFloor)
          SlicedWasserstein = sliced
          SlicedWassersteinFloor = ctx.Zoo |> Option.map (fun z -> z.SlicedWassersteinFloor)
          NearestTrainingMedian = novelty |> Option.map fst
          NoveltyRatio = novelty |> Option.map snd
          Seconds = sw.Elapsed.TotalSeconds })

/// `evaluate` on networks drawn for this row alone (a baseline's samples), freed once judged.
let private evaluateOwned (ctx: Context) (name: string) (theta: Tensor) : Row =
    use theta = theta
    evaluate ctx name theta

/// The three baseline rows of a zoo in one space: the mean of the training checkpoints (one network), `count` samples
/// of a diagonal Gaussian fitted to them, and `count` held-out checkpoints (from `baselinePool`, runs disjoint from
/// the context's judge runs). `project` maps the mean and the Gaussian's samples into the space (`id` for raw).
let baselines (ctx: Context) (project: Tensor -> Tensor) (count: int) (seed: int64) (training: Tensor) (baselinePool: Tensor) : Row list =
    use g = Scope.Rng.create seed
    [ evaluateOwned ctx "zoo mean" (Baselines.mean project training)
      evaluateOwned ctx "fitted Gaussian" (Baselines.gaussian project g count training)
      evaluateOwned ctx "held-out" (Baselines.heldOut g count baselinePool) ]

/// A baseline row's name at temperature τ: "NAME (τ X)", τ printed round-trip.
let atTemperature (name: string) (temperature: float) =
    name + " (τ " + temperature.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + ")"

/// The fitted Gaussian at sampling temperature τ (`Baselines.gaussianAt`), as an extra row "fitted Gaussian (τ X)"
/// beside flows sampled at that τ: drawn from a generator seeded with `seed`, so its ε are those of `baselines`' fitted
/// Gaussian with the same seed (the same networks, contracted towards μ).
let temperedGaussian (ctx: Context) (project: Tensor -> Tensor) (count: int) (seed: int64) (temperature: float) (training: Tensor) : Row =
    use g = Scope.Rng.create seed
    let name = atTemperature "fitted Gaussian" temperature
    evaluateOwned ctx name (Baselines.gaussianAt temperature project g count training)

/// The full-covariance Gaussian baseline's row name.
[<Literal>]
let FullGaussianName = "full-covariance Gaussian"

/// The Gaussian with the training checkpoints' full covariance at temperature τ (`Baselines.fullGaussianAt`), as a
/// row "full-covariance Gaussian" (τ = 1) or "full-covariance Gaussian (τ X)", drawn from a generator seeded with
/// `seed`: the same ε for every τ.
let fullGaussian (ctx: Context) (project: Tensor -> Tensor) (count: int) (seed: int64) (temperature: float) (training: Tensor) : Row =
    use g = Scope.Rng.create seed
    let name =
        if temperature = 1.0 then FullGaussianName
        else atTemperature FullGaussianName temperature
    evaluateOwned ctx name (Baselines.fullGaussianAt temperature project g count training)

/// A context for a zoo split by `holdout` (raw or canonicalized: `space` maps the zoo's weights into the evaluated
/// networks' space): judges with one half of the held-out runs and returns the other half as the held-out baseline's
/// pool (`Holdout.halves`); the reference is the zoo's first checkpoint, mapped by `space`. Returns the context, the
/// holdout with its tensors in that space, and the pool.
let ofHoldout (config: EvalConfig) (space: Tensor -> Tensor) (data: Dataset) (zoo: Zoo) (h: Holdout.Holdout) : Context * Holdout.Holdout * Tensor =
    let judge, pool = Holdout.halves zoo h
    let reference = space (zoo.Theta.narrow(0L, 0L, 1L))
    let train = space h.Train
    let ctx = prepare config zoo.Layout data (Some (reference, train, space judge))
    ctx, { h with Train = train; HeldOut = space h.HeldOut }, space pool

/// `ofHoldout` with the last `fraction` of the zoo's runs held out (`Holdout.split`).
let ofZoo (config: EvalConfig) (fraction: float) (space: Tensor -> Tensor) (data: Dataset) (zoo: Zoo) : Context * Holdout.Holdout * Tensor =
    ofHoldout config space data zoo (Holdout.split fraction zoo)
