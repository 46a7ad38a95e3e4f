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
