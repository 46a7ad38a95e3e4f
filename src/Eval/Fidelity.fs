/// Distributional fidelity, which the thesis lacks: a two-sample distance between generated networks and held-out
/// checkpoints (runs the generator never saw), in weight space, after re-aligning every generated network to the zoo's
/// reference (`Novelty.realign`; an equivariant flow samples arbitrary neuron orders, and without re-alignment the
/// prototype's RT looked 8x worse, evaluation-findings.md).
///
/// The distance is the squared maximum mean discrepancy with a Gaussian (RBF) kernel, unbiased estimator
/// (Gretton et al. 2012, eq. 3):
///     MMD²_u(X, Y) = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j),
///     k(a, b) = exp(−‖a − b‖² / (2 h²)).                                                                          (F.1)
/// Bandwidth rule (median heuristic): h = the median Euclidean distance over all pairs i < j of the pooled set of the
/// held-out checkpoints and an equally large random subset of the training checkpoints, fixed once per evaluation
/// context so that every row (flows, baselines, floor) is measured with the same kernel. The unbiased estimate can be
/// slightly negative when the two sets come from one distribution. Reported beside its **floor**: MMD²_u between
/// training and held-out checkpoints, what two independent sets of real checkpoints score.
///
/// Reading it (measured on the UCI zoo, `weightflow eval --baselines`): checkpoints of one run are clustered, so the
/// floor falls with the number of judging runs (5 runs: 0.058; 10 runs: 0.033), and a set drawn from few runs scores
/// above it (64 held-out checkpoints of 5 other runs: 0.096; of 10: 0.050). A generator trained on all training runs
/// should be compared with the floor. Under- and over-dispersion and collapse are seen (a diagonal Gaussian fitted to
/// the zoo with its standard deviations scaled by 0.5: 0.084, by 2: 0.232; the zoo mean plus 1% of them: 0.108,
/// against a floor of 0.058), but the fitted Gaussian itself sits at the floor (0.056-0.060): on UCI its first two
/// moments are what this kernel sees. The sliced Wasserstein distance (F.2) orders these the same way and is less
/// sensitive to run clustering (floor 0.061; 5 held-out runs 0.073; Gaussian x0.5 0.071, x2 0.142, collapsed 0.110;
/// fitted Gaussian 0.064).
///
/// What the column reports is a `Kind` (EvalConfig.Fidelity): (F.1) above, or (F.2)-(F.5) below. The default is the
/// predictive kind (F.5), chosen by a criterion stated and committed before any candidate was measured
/// (docs/fidelity-metric.md): on the MNIST and UCI zoos, with the tables' set sizes (32 and 256 networks) and a
/// permutation test (999 relabelings, α 0.01) against real training checkpoints, every weight-space kind failed to
/// tell the diagonal Gaussian fitted to the training checkpoints from real checkpoints on both zoos (z ≤ 1.5; on MNIST
/// its samples have accuracy 0.52), while (F.5) rejected it (z 65 on MNIST, 22 on UCI) and every other known-wrong
/// generator, and left real and permuted-then-re-aligned checkpoints at the floor. The weight-space kinds see little
/// more than the first two moments of the weights in these dimensions (7,960 and 802 parameters).
[<RequireQualifiedAccess>]
module WeightFlow.Fidelity

open TorchSharp

/// Pairwise squared Euclidean distances [m, n] in float64.
let private squaredDistances (a: Tensor) (b: Tensor) =
    let aa = a.square().sum([| 1L |], keepdim = true)
    let bb = b.square().sum([| 1L |]).unsqueeze(0L)
    (aa + bb - torch.matmul(a, b.t()) * 2.0).clamp_min(0.0)

/// The median-heuristic bandwidth h of (F.1) over a pooled set [n, P]: the median distance over pairs i < j.
let medianBandwidth (pooled: Tensor) : float =
    Check.arg "pooled" (pooled.shape[0] >= 2L) "The median heuristic needs at least two networks."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let z = pooled.to_type(torch.float64)
        let n = z.shape[0]
        let d2 = squaredDistances z z
        let upper = torch.ones([| n; n |], dtype = torch.ScalarType.Bool).triu(1L)
        d2.masked_select(upper).median().sqrt().ToDouble())

/// MMD²_u (F.1) between x [m, P] and y [n, P] (m, n >= 2) with bandwidth h.
let mmd2 (bandwidth: float) (x: Tensor) (y: Tensor) : float =
    Check.arg "bandwidth" (bandwidth > 0.0) $"The kernel bandwidth must be positive; got {bandwidth}."
    if x.dim() <> 2L || y.dim() <> 2L || x.shape[1] <> y.shape[1] then
        invalidArg "x" $"MMD needs two sets of flat weights of one layout; got %A{x.shape} and %A{y.shape}."
    Check.arg "x" (x.shape[0] >= 2L && y.shape[0] >= 2L) $"The unbiased MMD needs at least two networks per set; got {x.shape[0]} and {y.shape[0]}."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let x = x.to_type(torch.float64)
        let y = y.to_type(torch.float64)
        let m, n = float x.shape[0], float y.shape[0]
        let k (a: Tensor) (b: Tensor) = (squaredDistances a b / (-2.0 * bandwidth * bandwidth)).exp()
        let offDiagonalMean (kk: Tensor) (s: float) = (kk.sum().ToDouble() - kk.diagonal().sum().ToDouble()) / (s * (s - 1.0))
        offDiagonalMean (k x x) m + offDiagonalMean (k y y) n - 2.0 * (k x y).mean().ToDouble())

/// Sliced 2-Wasserstein distance (Bonneel et al. 2015) between x [m, P] and y [n, P], a second view of fidelity that
/// needs no bandwidth:
///     SW₂(X, Y)² = (1/L) Σ_l (1/Q) Σ_q (F⁻¹_{X·u_l}(τ_q) − F⁻¹_{Y·u_l}(τ_q))²,                                  (F.2)
/// over L random unit directions u_l (seeded: the same directions for every row of one context when the seed is
/// the same) and Q = max(m, n) quantile levels τ_q = (q + ½)/Q, each empirical quantile the order statistic
/// ⌊τ_q · size⌋ of the projected set.
let slicedWasserstein (seed: int64) (projections: int) (x: Tensor) (y: Tensor) : float =
    Check.arg "projections" (projections >= 1) $"Sliced Wasserstein needs at least one projection; got {projections}."
    if x.dim() <> 2L || y.dim() <> 2L || x.shape[1] <> y.shape[1] then
        invalidArg "x" $"Sliced Wasserstein needs two sets of flat weights of one layout; got %A{x.shape} and %A{y.shape}."
    Check.arg "x" (x.shape[0] >= 1L && y.shape[0] >= 1L) "Sliced Wasserstein needs non-empty sets."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        use g = Scope.Rng.create seed
        let u = torch.randn([| x.shape[1]; int64 projections |], generator = g, dtype = torch.float64)
        let u = u / u.norm(0, true, 2.0f)
        let px = torch.matmul(x.to_type(torch.float64).cpu(), u).msort()
        let py = torch.matmul(y.to_type(torch.float64).cpu(), u).msort()
        let q = max x.shape[0] y.shape[0]
        let levels = (torch.arange(q, dtype = torch.float64) + 0.5) / float q
        let at (sorted: Tensor) = sorted.index_select(0L, (levels * float sorted.shape[0]).floor().to_type(torch.int64))
        (at px - at py).square().mean().sqrt().ToDouble())


/// Which two-sample distance the fidelity column reports (docs/fidelity-metric.md: the candidates of the issue 12/13
/// study, each measured between a row's re-aligned networks and the judge checkpoints).
[<RequireQualifiedAccess>]
type Kind =
    /// (F.1) on the re-aligned weights: one RBF kernel at the median-heuristic bandwidth h.
    | Rbf
    /// (F.1) with the kernel Σ_c exp(−‖a − b‖² / (2 (c·h)²)), c ∈ {1/4, 1/2, 1, 2, 4}:                           (F.3)
    /// a sum of characteristic kernels, so MMD² is the sum of the five single-kernel MMD²s.
    | MultiScaleRbf
    /// (F.1) in coordinates z-scored by the training checkpoints' per-coordinate mean and standard deviation (h the
    /// median heuristic in those coordinates): every weight counts alike, not only the large ones.
    | StandardizedRbf
    /// The mean over layers l of (F.1) on layer l's weights and bias alone, each at its own median-heuristic h_l.
    | PerLayerRbf
    /// (F.2), the sliced 2-Wasserstein distance (no bandwidth).
    | SlicedWasserstein
    /// The energy distance (Székely & Rizzo 2013), MMD²_u with the kernel −‖a − b‖ (unbiased within-set terms):   (F.4)
    ///     E(X, Y) = 2/(mn) Σ ‖x_i − y_j‖ − 1/(m(m−1)) Σ_{i≠j} ‖x_i − x_j‖ − 1/(n(n−1)) Σ_{i≠j} ‖y_i − y_j‖.
    | Energy
    /// Function space: (F.1) between the networks' softmax predictive distributions on a fixed probe set of task
    /// inputs, flattened [N·C]; invariant to neuron order by construction (re-alignment does not change it).       (F.5)
    | Predictive

[<RequireQualifiedAccess>]
module Kind =
    /// Every kind, in the study's order.
    let all = [ Kind.Rbf; Kind.MultiScaleRbf; Kind.StandardizedRbf; Kind.PerLayerRbf; Kind.SlicedWasserstein; Kind.Energy; Kind.Predictive ]

    /// The name used in cache keys, JSON and the command line.
    let name (k: Kind) =
        match k with
        | Kind.Rbf -> "rbf"
        | Kind.MultiScaleRbf -> "rbf-multiscale"
        | Kind.StandardizedRbf -> "rbf-standardized"
        | Kind.PerLayerRbf -> "rbf-per-layer"
        | Kind.SlicedWasserstein -> "sliced-wasserstein"
        | Kind.Energy -> "energy"
        | Kind.Predictive -> "predictive"

    /// What the column measures, for report captions.
    let describe (k: Kind) =
        match k with
        | Kind.Rbf -> "MMD²_u of the re-aligned weights, one RBF kernel at the median-heuristic bandwidth"
        | Kind.MultiScaleRbf -> "MMD²_u of the re-aligned weights, a sum of RBF kernels at h x {1/4, 1/2, 1, 2, 4} (h the median heuristic)"
        | Kind.StandardizedRbf -> "MMD²_u of the re-aligned weights z-scored per coordinate by the training checkpoints, one RBF kernel (median heuristic)"
        | Kind.PerLayerRbf -> "the mean over layers of MMD²_u of each layer's re-aligned weights and bias, one RBF kernel per layer (median heuristic)"
        | Kind.SlicedWasserstein -> "the sliced 2-Wasserstein distance of the re-aligned weights"
        | Kind.Energy -> "the energy distance of the re-aligned weights"
        | Kind.Predictive -> "MMD²_u of the softmax predictive distributions on fixed probe inputs (validation rows), one RBF kernel at the median-heuristic bandwidth"

    /// Parses `name`'s output.
    let parse (s: string) : Kind =
        match all |> List.tryFind (fun k -> name k = s.Trim().ToLowerInvariant()) with
        | Some k -> k
        | None ->
            let names = all |> List.map name |> String.concat ", "
            invalidArg "fidelity" $"'{s}' is not a fidelity metric; use one of {names}."

/// The bandwidth multipliers of (F.3).
let multiScales = [ 0.25; 0.5; 1.0; 2.0; 4.0 ]

/// A fidelity metric fixed once per evaluation context, so that every row (flows, baselines, floor) is measured
/// with the same features and kernels.
[<NoEquality; NoComparison>]
type Metric =
    { Kind: Kind
      /// The feature blocks of networks θ [B, P], float64: one block for every kind but `PerLayerRbf` (one per layer).
      Features: Tensor -> Tensor list
      /// Per block, the RBF bandwidths whose kernels are summed; empty for the energy kernel −‖a − b‖.
      Bandwidths: float list list
      /// Seed and number of directions of (F.2).
      Seed: int64
      Projections: int }

/// Fixes a metric of `kind` for a context: standardization statistics from `training` [M, P] (the re-aligned training
/// checkpoints), the probe inputs [N, d] of `Predictive` (ignored by the other kinds), and every bandwidth by the
/// median heuristic over `pooled` [n, P] (the floor's training subset with the judge checkpoints). The tensors the
/// metric holds (mean, standard deviation, probe inputs) are detached from any dispose scope: they live as long as
/// the metric.
let fit (kind: Kind) (layout: Layout) (training: Tensor) (probe: Tensor) (seed: int64) (projections: int) (pooled: Tensor) : Metric =
    Check.arg "pooled" (pooled.shape[0] >= 2L) "A fidelity metric's bandwidth needs at least two pooled networks."
    use _ = torch.no_grad ()
    let features : Tensor -> Tensor list =
        match kind with
        | Kind.Rbf | Kind.MultiScaleRbf | Kind.SlicedWasserstein | Kind.Energy -> fun theta -> [ theta.to_type(torch.float64) ]
        | Kind.StandardizedRbf ->
            let t = training.to_type(torch.float64)
            let mu = t.mean([| 0L |], keepdim = true).DetachFromDisposeScope()
            // a coordinate that no checkpoint moves (std 0) is compared on the raw scale rather than divided by 0
            let sd = t.std(0L, true, true)
            let sd = torch.where(sd.gt(scalar 0.0), sd, torch.ones_like(sd)).DetachFromDisposeScope()
            fun theta -> [ (theta.to_type(torch.float64) - mu) / sd ]
        | Kind.PerLayerRbf ->
            fun theta ->
                let b = theta.shape[0]
                [ for i in 0 .. Layout.depth layout - 1 ->
                    torch.cat([| (Layout.weightT layout i theta).reshape(b, -1L); Layout.bias layout i theta |], 1L).to_type(torch.float64) ]
        | Kind.Predictive ->
            Check.arg "probe" (probe.dim() = 2L && probe.shape[0] >= 1L) "The predictive fidelity metric needs at least one probe input."
            let x = probe.alias().DetachFromDisposeScope()
            fun theta ->
                let p = Predictive.probabilities (Predictive.logits layout x theta)
                [ p.reshape(p.shape[0], -1L).to_type(torch.float64) ]
    let bandwidths =
        Scope.value (fun () ->
            [ for block in features pooled ->
                match kind with
                | Kind.Energy -> []
                | Kind.MultiScaleRbf -> let h = medianBandwidth block in multiScales |> List.map (fun c -> c * h)
                | _ -> [ medianBandwidth block ] ])
    Check.arg "pooled" (bandwidths |> List.forall (List.forall (fun h -> h > 0.0)))
        "Every pooled network is identical (median distance 0): the fidelity kernel needs distinct networks."
    { Kind = kind; Features = features; Bandwidths = bandwidths; Seed = seed; Projections = projections }

/// The metric's kernel matrix [m, n] between feature blocks fa (of m networks) and fb (of n): the mean over blocks of
/// Σ_h exp(−d²/(2h²)) over the block's bandwidths, or −d for the energy kernel (d the Euclidean distance).
let gram (metric: Metric) (fa: Tensor list) (fb: Tensor list) : Tensor =
    use _ = torch.no_grad ()
    Scope.run (fun () ->
        let blocks =
            List.map3 (fun (a: Tensor) (b: Tensor) (hs: float list) ->
                let d2 = squaredDistances a b
                match hs with
                | [] -> d2.sqrt().neg()
                | _ -> hs |> List.map (fun h -> (d2 / (-2.0 * h * h)).exp()) |> List.reduce (+)) fa fb metric.Bandwidths
        (List.reduce (+) blocks) / float blocks.Length)

/// MMD²_u (F.1) from the three kernel matrices of X [m, m], Y [n, n] and X × Y [m, n] (m, n >= 2).
let mmd2OfGrams (kxx: Tensor) (kyy: Tensor) (kxy: Tensor) : float =
    let offDiagonalMean (kk: Tensor) =
        let s = float kk.shape[0]
        (kk.sum().ToDouble() - kk.diagonal().sum().ToDouble()) / (s * (s - 1.0))
    offDiagonalMean kxx + offDiagonalMean kyy - 2.0 * kxy.mean().ToDouble()

/// The metric's distance between networks x [m, P] and y [n, P] (m, n >= 2), already re-aligned by the caller.
let distance (metric: Metric) (x: Tensor) (y: Tensor) : float =
    if x.dim() <> 2L || y.dim() <> 2L || x.shape[1] <> y.shape[1] then
        invalidArg "x" $"Fidelity needs two sets of flat weights of one layout; got %A{x.shape} and %A{y.shape}."
    Check.arg "x" (x.shape[0] >= 2L && y.shape[0] >= 2L) $"Fidelity needs at least two networks per set; got {x.shape[0]} and {y.shape[0]}."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        match metric.Kind with
        | Kind.SlicedWasserstein -> slicedWasserstein metric.Seed metric.Projections x y
        | _ ->
            let fx, fy = metric.Features x, metric.Features y
            mmd2OfGrams (gram metric fx fx) (gram metric fy fy) (gram metric fx fy))
