/// The prior p0 (thesis §6.3, anchors §5, P11): N(0, s² I) over every parameter, weights and biases, with s = 0.1
/// (the base models' initialisation scale), mapped into the flow's space (canonicalized for the Normalized and
/// Geometric flows: uniform directions for hidden neurons, a near-uniform direction for the last layer). Training
/// draws fresh samples every step rather than the anchor's fixed pool.
///
/// Optionally (issue 13, README "MNIST flows") the prior is the Gaussian fitted to the training targets: N(μ, diag σ²)
/// over the raw parameters, μ and σ the per-parameter mean and standard deviation of the (aligned) zoo — the "fitted
/// Gaussian" baseline of Table 7.2, made the flow's source. On the aligned MNIST zoo an equivariant flow from
/// N(0, s² I) must break the hidden neurons' symmetry from pure noise and stayed at chance accuracy on a CPU budget;
/// from the fitted Gaussian each prior neuron already sits near its aligned prototype, so the flow only has to move a
/// mediocre network (the fitted Gaussian's samples: ~0.5 accuracy) to a good one — the regime (t >= 0.5) in which
/// the isotropic flow's x̂1 was already good. The fit holds for the layout it was made on; wider layouts of the same
/// depth reuse the stats of hidden neuron k mod h (`sample`).
///
/// Or (issue 13) the Gaussian with the targets' *full* covariance, N(μ, C), C ≈ FᵀF + diag(d²) (`FitFullToTargets`):
/// if the targets were N(μ, C) and the prior the same N(μ, C), the optimal x1-predictor of the independent coupling
/// on the Euclidean path x_t = (1 − t)x0 + t·x1 is E[x1 | x_t] = μ + t/((1 − t)² + t²)·(x_t − μ) (Cov(x1, x_t) = t·C,
/// Cov(x_t) = ((1 − t)² + t²)·C): one scalar per t for every coordinate, exactly what an equivariant per-coordinate
/// model (the RT on the diagonal-denoiser line, README "MNIST flows") can represent. So the flow starts at the
/// full-covariance Gaussian's quality (the strongest baseline of Table 7.2) and its nonlinear capacity only has to
/// improve on it, where from the diagonal Gaussian the same model stays at the diagonal Gaussian's linear denoiser.
namespace WeightFlow

open System
open TorchSharp

/// The Gaussian fitted to a layout's training targets: per raw parameter mean and standard deviation [P] (float32,
/// CPU). With `Standardized` (Euclidean flows only) the velocity model also works in the standardized coordinates
/// z = (θ - Mean) / Std: it reads z_t and writes ẑ1, the prediction is x̂1 = Mean + Std·ẑ1 and the training loss is
/// taken on z (`Prior.standardize`). The Euclidean path and Euler steps are affine-equivariant, so this is exactly a
/// flow from N(0, I) on the per-parameter standardized zoo: predicting ẑ1 = 0 (the zoo mean) costs the model nothing,
/// where a model on raw weights has to learn the mean's 7,950 values through its positional embeddings first.
///
/// `Covariance` (None: diagonal, N(μ, diag Std²)) makes it N(μ, FᵀF + diag(Residual²)): `Factor` [K, P] holds the
/// targets' top K principal directions scaled by their standard deviations (all N centred targets / √N when N <= K:
/// then FᵀF is the targets' covariance exactly), `Residual` [P] the per-parameter standard deviation FᵀF leaves
/// unexplained (floored at 1e-6, as Std: a small isotropic floor, so the covariance is full-rank and no coordinate is
/// frozen). Std stays the per-parameter (marginal) standard deviation, the standardized coordinates' scale.
[<NoComparison>]
type FittedGaussian = { Layout: Layout; Mean: Tensor; Std: Tensor; Standardized: bool; Covariance: LowRankCovariance option }

/// A low-rank-plus-diagonal covariance FᵀF + diag(Residual²) (FittedGaussian). With `LinearSkip` (a standardized
/// fit, x1-prediction) the model predicts only what the Gaussian-optimal linear predictor misses:
/// ẑ1 = c(t)·z_t + c_out(t)·F(t, z_t), c(t) = t/((1 − t)² + t²), c_out(t) = (1 − t)/√((1 − t)² + t²) — the optimal
/// x1-predictor if the targets were this Gaussian (module comment) and its residual's standard deviation, as EDM's
/// c_skip/c_out (Karras et al. 2022, Eq. 7) for this path. F = 0 is then the Gaussian flow itself (it transports the
/// prior onto itself), so training starts at the full-covariance Gaussian's samples, where a plain model starts at
/// the zoo mean and must first learn the near-identity map at large t.
and [<NoComparison>] LowRankCovariance = { Factor: Tensor; Residual: Tensor; LinearSkip: bool }

/// How the full-covariance prior is fitted (`FitFullToTargets`).
type CovarianceFit =
    { /// As FittedGaussian.Standardized.
      Standardized: bool
      /// K, the principal directions kept (the factor's rows; K x P floats are stored with the flow).
      Rank: int
      /// As LowRankCovariance.LinearSkip (needs Standardized and x1-prediction).
      LinearSkip: bool }

/// Where the prior is centred.
[<NoComparison>]
type PriorCentre =
    /// N(0, Std² I): the thesis' prior (the default).
    | Origin
    /// A training setting: fit N(μ, diag σ²) to the training targets when training starts (Training.train), giving
    /// `Fitted`; `standardized` as in FittedGaussian.
    | FitToTargets of standardized: bool
    /// A training setting: fit N(μ, C) with the training targets' full covariance, in rank `Rank` plus the residual
    /// diagonal (`Prior.fitFull`), when training starts, giving `Fitted` with a Covariance.
    | FitFullToTargets of CovarianceFit
    /// N(Mean, diag Std²) over the raw parameters of the fit's layout; the prior's Std is unused.
    | Fitted of FittedGaussian

[<NoComparison>]
type Prior = { Std: float; Centre: PriorCentre }

[<RequireQualifiedAccess>]
module Prior =
    /// s = 0.1, centred at the origin.
    let defaults = { Std = 0.1; Centre = Origin }

    /// The full-covariance prior's default rank K: 512 principal directions (16 MB of float32 with a 784-10-10
    /// flow, where all N = 5,670 MNIST training checkpoints would be 180 MB). On the aligned MNIST zoo 32 of its
    /// samples (plus the residual diagonal) scored as well as 32 other draws of the exact full-covariance Gaussian:
    /// BMA16 0.919 vs 0.918, mean accuracy 0.677 vs 0.638, MMD² 0.113 vs 0.128 (README "MNIST flows").
    let defaultRank = 512

    /// The centre's name in file headers: origin, fitted, standardized (a fit to do or done alike).
    let centreText (c: PriorCentre) =
        match c with
        | Origin -> "origin"
        | FitToTargets false | Fitted { Standardized = false; Covariance = None } -> "fitted"
        | FitToTargets true | Fitted { Standardized = true; Covariance = None } -> "standardized"
        | FitFullToTargets { Standardized = false } | Fitted { Standardized = false; Covariance = Some _ } -> "fitted-full"
        | FitFullToTargets { Standardized = true } | Fitted { Standardized = true; Covariance = Some _ } -> "standardized-full"

    /// The fit, if the prior has one.
    let fitted (prior: Prior) : FittedGaussian option =
        match prior.Centre with Fitted g -> Some g | Origin | FitToTargets _ | FitFullToTargets _ -> None

    /// Blocks (first column, width) of at most `columns` of P parameter columns, on which the fits compute their
    /// per-parameter statistics: each is a reduction over the rows of one column, so float64 copies [N, columns]
    /// suffice (23 MB each for 512 columns of the MNIST zoo, where the float64 copies of all targets, [5670, 7960] x 8
    /// bytes = 361 MB each, peaked at +1.7 GB; docs/results/memory-mnist.md) and the statistics are bit for bit those
    /// of one batch (TestPrior). A one-column block would be reduced as one contiguous vector, in another summation
    /// order than a column of a wider block (measured: the residual differed in its last bits), so a last block of one
    /// column joins the block before it, and blocks are at least two columns wide.
    let private columnBlocks (columns: int) (p: int64) : (int64 * int64)[] =
        Check.arg "columns" (columns >= 2) $"The fit's blocks need at least two parameter columns each; got {columns}."
        let s = [| 0L .. int64 columns .. p - 1L |]
        let s = if s.Length > 1 && p - Array.last s = 1L then Array.take (s.Length - 1) s else s
        s |> Array.mapi (fun i c0 -> c0, (if i + 1 < s.Length then s[i + 1] else p) - c0)

    /// Parameter columns per block of `fit` and `fitFull` (`columnBlocks`).
    let private blockColumns = 512

    /// `fit`'s statistics of a float64 block [N, w]: the per-parameter mean and population deviation, floored at 1e-6
    /// (float32, [w] each).
    let private moments (xb: Tensor) : Tensor * Tensor =
        xb.mean([| 0L |]).to_type(torch.float32), xb.std(0L, false).clamp_min(scalar 1e-6).to_type(torch.float32)

    /// The Gaussian fitted to raw targets [N, P] of `layout`: per-parameter mean and standard deviation (population,
    /// floored at 1e-6 so no coordinate is frozen), in blocks of parameter columns (`columnBlocks`).
    let fit (standardized: bool) (layout: Layout) (targets: Tensor) : PriorCentre =
        Check.shape "targets" [ int targets.shape[0]; Layout.paramCount layout ] targets
        Check.arg "targets" (targets.shape[0] >= 2L) $"Fitting a prior needs at least two target networks; got {targets.shape[0]}."
        Scope.noGrad (fun () ->
            use _ = Scope.enter ()
            let x = targets.cpu()
            let p = x.shape[1]
            let mean = torch.empty([| p |], dtype = torch.float32)
            let std = torch.empty([| p |], dtype = torch.float32)
            for c0, w in columnBlocks blockColumns p do
                use _ = Scope.enter ()
                let m, sd = moments (x.narrow(1L, c0, w).to_type(torch.float64).contiguous())
                mean.narrow(0L, c0, w).copy_(m) |> ignore
                std.narrow(0L, c0, w).copy_(sd) |> ignore
            Fitted { Layout = layout; Mean = mean.DetachFromDisposeScope(); Std = std.DetachFromDisposeScope()
                     Standardized = standardized; Covariance = None })

    /// The top `k` principal directions of centred rows a [N, P] (float32), scaled by their singular values: G [k, P]
    /// with GᵀG ≈ aᵀa (its best rank-k approximation). Randomized SVD (Halko, Martinsson & Tropp 2011, Alg. 4.4: a
    /// range of k + 10 columns, two power iterations, re-orthonormalized by QR), from a generator of its own with a
    /// fixed seed, so the fit is a pure function of the targets (a resumed run refits it identically). On the MNIST
    /// zoo (N 5,670, P 7,950) it costs ~6 products of [N, P] by [P, k + 10], where an exact SVD of a would be ~N²P.
    let topComponents (k: int) (a: Tensor) : Tensor =
        let n, p = a.shape[0], a.shape[1]
        let l = min (int64 k + 10L) (min n p)
        use gen = Scope.Rng.create 0L
        let orth (y: Tensor) = let struct (q, _) = torch.linalg.qr(y) in q
        let mutable q = orth (a.matmul(torch.randn([| p; l |], generator = gen, dtype = a.dtype)))
        for _ in 1 .. 2 do
            q <- orth (a.matmul(orth (a.t().matmul(q))))
        let struct (_, s, vh) = torch.linalg.svd(q.t().matmul(a), fullMatrices = false)
        let k = min (int64 k) l
        s.narrow(0L, 0L, k).unsqueeze(1L) * vh.narrow(0L, 0L, k)

    /// `fitFull` with its per-parameter statistics computed on blocks of `columns` parameters (`columnBlocks`).
    let fitFullInBlocks (columns: int) (settings: CovarianceFit) (layout: Layout) (targets: Tensor) : PriorCentre =
        Check.arg "Rank" (settings.Rank >= 1) $"The full-covariance prior keeps Rank >= 1 principal directions; got {settings.Rank}."
        Check.shape "targets" [ int targets.shape[0]; Layout.paramCount layout ] targets
        Check.arg "targets" (targets.shape[0] >= 2L) $"Fitting a prior needs at least two target networks; got {targets.shape[0]}."
        let blocks = columnBlocks columns targets.shape[1]
        Scope.noGrad (fun () ->
            use _ = Scope.enter ()
            let x = targets.cpu()
            let n, p = x.shape[0], x.shape[1]
            let mean = torch.empty([| p |], dtype = torch.float32)
            let std = torch.empty([| p |], dtype = torch.float32)
            let variance = torch.empty([| p |], dtype = torch.float64)
            let a = torch.empty([| n; p |], dtype = torch.float32)
            for c0, w in blocks do
                use _ = Scope.enter ()
                let xb = x.narrow(1L, c0, w).to_type(torch.float64).contiguous()
                let m, sd = moments xb
                mean.narrow(0L, c0, w).copy_(m) |> ignore
                std.narrow(0L, c0, w).copy_(sd) |> ignore
                let centred = xb - xb.mean([| 0L |], true)
                variance.narrow(0L, c0, w).copy_(centred.pow(scalar 2.0).mean([| 0L |])) |> ignore
                a.narrow(1L, c0, w).copy_(centred.to_type(torch.float32)) |> ignore
            let factor = (if n <= int64 settings.Rank then a else topComponents settings.Rank a).div(scalar (sqrt (float n)))
            let explained = factor.to_type(torch.float64).pow(scalar 2.0).sum(0L)
            let residual = (variance - explained).clamp_min(scalar 1e-12).sqrt().to_type(torch.float32)
            let keep (t: Tensor) = t.DetachFromDisposeScope()
            Fitted { Layout = layout; Mean = keep mean; Std = keep std; Standardized = settings.Standardized
                     Covariance = Some { Factor = keep factor; Residual = keep residual; LinearSkip = settings.LinearSkip } })

    /// The Gaussian with the full covariance of raw targets [N, P] of `layout` (FittedGaussian with a Covariance):
    /// mean μ, the population covariance C = (1/N) Σ (θ_j − μ)(θ_j − μ)ᵀ as F [K, P] = its top `Rank` principal
    /// directions (exact, all N centred rows / √N, when N <= Rank) and the residual per-parameter deviation
    /// √(diag C − diag FᵀF), floored at 1e-6; Std the per-parameter deviation √(diag C), floored at 1e-6 (as `fit`).
    /// Per-parameter statistics in blocks of parameter columns, as `fit` (`fitFullInBlocks`).
    let fitFull (settings: CovarianceFit) (layout: Layout) (targets: Tensor) : PriorCentre =
        fitFullInBlocks blockColumns settings layout targets

    /// What new runs' checkpoints show outside a full-covariance fit's principal span (issue 13, docs/mnist/prior2.md):
    /// leave-runs-out on raw targets [N, P] with a fold per row (e.g. run id mod 5). For each fold f, `fitFull settings`
    /// on the other folds' rows gives μ_f and F_f; each left-out row's residual x − μ_f is projected off the span of
    /// F_f's rows (the span in which the fit's residual diagonal is the in-sample residual), and v_f [P] is the
    /// per-parameter mean of its square over the fold's rows. Returns the mean of v_f over folds [P] (float32): the
    /// out-of-span variance a run the fit never saw has, where the fit's own Residual² is that of the runs it saw.
    let leaveRunsOutResidual (settings: CovarianceFit) (layout: Layout) (targets: Tensor) (fold: int[]) : Tensor =
        Check.shape "targets" [ int targets.shape[0]; Layout.paramCount layout ] targets
        Check.arg "fold" (int64 fold.Length = targets.shape[0]) $"Need one fold per target row; got {fold.Length} folds for {targets.shape[0]} rows."
        let folds = Array.distinct fold |> Array.sort
        Check.arg "fold" (folds.Length >= 2) $"Leave-runs-out needs at least two folds; got {folds.Length}."
        Scope.noGrad (fun () ->
            use _ = Scope.enter ()
            let x = targets.cpu()
            let rowsOf (keep: int -> bool) = torch.tensor([| for i in 0 .. fold.Length - 1 do if keep fold[i] then int64 i |])
            let total = torch.zeros([| x.shape[1] |], dtype = torch.float64)
            for f in folds do
                // one fold's fit and float64 residuals (~0.3 GB on the MNIST zoo) are freed before the next
                use _ = Scope.enter ()
                match fitFull settings layout (x.index_select(0L, rowsOf (fun g -> g <> f))) with
                | Fitted { Mean = mean; Covariance = Some cov } ->
                    // an orthonormal basis of the factor's row space: its right singular vectors of non-negligible
                    // singular value (the exact factor of N <= Rank rows has rank N − 1: its centred rows sum to 0)
                    let struct (_, sv, vh) = torch.linalg.svd(cov.Factor.to_type(torch.float64), fullMatrices = false)
                    let q = vh.index_select(0L, torch.nonzero(sv.gt(sv.max() * 1e-6)).squeeze(1L)).t()
                    let r = x.index_select(0L, rowsOf (fun g -> g = f)).to_type(torch.float64) - mean.to_type(torch.float64).unsqueeze(0L)
                    total.add_((r - r.matmul(q).matmul(q.t())).pow(scalar 2.0).mean([| 0L |])) |> ignore
                    for t in [ mean; cov.Factor; cov.Residual ] do t.Dispose()
                | _ -> failwith "Prior.fitFull returns Fitted with a Covariance"
            (total / float folds.Length).to_type(torch.float32).DetachFromDisposeScope())

    /// A full-covariance fit with its residual deviation raised to at least `floor` [P] per parameter (d'_j =
    /// max(d_j, floor_j); docs/mnist/prior2.md: floor = √`leaveRunsOutResidual`), and Std its new marginal deviation
    /// √(diag FᵀF + d'²) (floored at 1e-6, as `fit`), so standardized coordinates stay the prior's own. Mean and Factor
    /// are unchanged; a zero floor gives the fit back (up to the 1e-12 variance floors).
    let withResidualFloor (floor: Tensor) (g: FittedGaussian) : FittedGaussian =
        match g.Covariance with
        | None -> invalidArg "g" "A residual floor needs a full-covariance fit (Prior.fitFull); this fit is diagonal."
        | Some cov ->
            Check.shape "floor" [ int cov.Residual.shape[0] ] floor
            Check.arg "floor" (floor.isfinite().all().ToBoolean() && floor.min().ToDouble() >= 0.0) "The residual floor must be finite and >= 0."
            Scope.noGrad (fun () ->
                use _ = Scope.enter ()
                let d = torch.maximum(cov.Residual, floor.to_type(cov.Residual.dtype).``to``(cov.Residual.device))
                let explained = cov.Factor.to_type(torch.float64).pow(scalar 2.0).sum(0L)
                let std = (explained + d.to_type(torch.float64).pow(scalar 2.0)).sqrt().clamp_min(scalar 1e-6).to_type(torch.float32)
                let keep (t: Tensor) = t.DetachFromDisposeScope()
                { g with Std = keep std; Covariance = Some { cov with Residual = keep d } })

    /// Per-parameter [P] (or rows [K, P]) of `target` from per-parameter [P] (rows [K, P]) of `fitted` (same depth,
    /// same input and output widths, hidden widths >= the fitted ones): hidden neuron k of a layer takes the stats of
    /// fitted neuron k mod h, in every weight that touches it; with a diagonal fit the new neurons are copies of the
    /// fitted ones' distributions, not of their samples. A full-covariance fit's factor rows are tiled alike, so a
    /// copy shares its original's low-rank part (the two move together) and only the residual diagonal is its own.
    let tile (fitted: Layout) (target: Layout) (v: Tensor) : Tensor =
        if fitted = target then v.alias()
        else
            let depth = Layout.depth fitted
            let bad = Layout.depth target <> depth || target.Widths[0] <> fitted.Widths[0] || target.Widths[depth] <> fitted.Widths[depth]
                      || Array.exists2 (fun a b -> a < b) target.Widths fitted.Widths
            if bad then
                Check.fail Check.ErrorKind.Mismatch $"The flow's prior was fitted to {fitted} networks; it extends only to layouts of the same depth, inputs and outputs with hidden layers at least as wide; got {target}. Sample that layout from a flow with the isotropic prior."
            let pick (n: int) (h: int) = torch.tensor([| for k in 0 .. n - 1 -> int64 (k % h) |])
            let row = if v.dim() = 1L then v.unsqueeze(0L) else v
            let layers =
                [ for i in 0 .. depth - 1 ->
                    let outs = pick target.Widths[i + 1] fitted.Widths[i + 1]
                    let w = (Layout.weightT fitted i row).index_select(1L, pick target.Widths[i] fitted.Widths[i]).index_select(2L, outs)
                    { W = w.transpose(1L, 2L); B = (Layout.bias fitted i row).index_select(1L, outs) } ]
            let tiled = Layout.flatten target layers
            if v.dim() = 1L then tiled.squeeze(0L) else tiled

    /// Checks a sampling temperature τ (`sampleTempered`): finite and >= 0.
    let checkTemperature (temperature: float) =
        Check.arg "temperature" (Double.IsFinite temperature && temperature >= 0.0)
            $"The sampling temperature must be a finite number >= 0 (1 = the prior as trained, 0 = its centre, values in between narrow the prior draw); got {temperature}."

    /// B prior samples [B, P] at sampling temperature τ (issue 13's "sampling noise" axis): the draw contracted
    /// towards the prior's centre c, x0 = c + τ·(x0 − c), before the flow integrates it. τ = 1 is the prior the flow
    /// was trained on (the very same tensor: no arithmetic is done), τ < 1 trades diversity for samples nearer the
    /// flow of the centre, τ = 0 gives one network for every sample (deterministic sampling); τ > 1 widens the draw
    /// past the prior the flow was trained on (its spread sets the samples' spread: the UCI main job samples its
    /// fitted-prior canonical flows at τ > 1, `MainJobConfig.uciFlow`). What it acts on:
    /// - Euclidean flows: the raw draw, c = 0 (N(0, s² I)) or the fit's mean μ (fitted/standardized prior): exactly
    ///   N(c, τ²·Σ).
    /// - Normalized/Geometric flows with a fitted prior: the raw draw about μ, then canonicalized, so the neurons'
    ///   directions concentrate around those of canonicalize(μ).
    /// - Normalized/Geometric flows with the isotropic prior N(0, s² I): contracting the raw draw before the
    ///   canonicalization would not narrow anything (each hidden neuron's direction w/‖w‖ is scale-invariant, and the
    ///   deeper layers' canonical biases would even grow as 1/τ, Canonical.fs (C.1)-(C.2)), and the canonical draw's
    ///   sphere factors are uniform directions, which have no centre to contract towards. So τ scales only the
    ///   canonical draw's Euclidean factors, the biases (centred at 0 by the prior's symmetry), and leaves every
    ///   direction as drawn: a narrower prior in the biases only, stated in `temperatureEffect`.
    let sampleTempered (temperature: float) (prior: Prior) (space: FlowSpace) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        Check.arg "prior" (prior.Std > 0.0) $"The prior's standard deviation must be > 0; got {prior.Std}."
        checkTemperature temperature
        // τ = 1 takes none of the branches below, so its draws are bit for bit those of an untempered prior.
        let tempered = temperature <> 1.0
        Scope.run (fun () ->
            let p = Layout.paramCount space.Layout
            let eps = torch.randn([| int64 b; int64 p |], generator = gen, dtype = torch.float32)
            let rawContraction = tempered && (space.Canonical.IsNone || prior.Centre <> Origin)
            let x =
                match prior.Centre with
                | Origin -> eps.mul(scalar (if rawContraction then prior.Std * temperature else prior.Std))
                | Fitted g ->
                    let mean, std = tile g.Layout space.Layout g.Mean, tile g.Layout space.Layout g.Std
                    // x0 − c = std·eps (diagonal) or z·F + d·eps, z ~ N(0, I_K) drawn after eps (full covariance:
                    // Cov = FᵀF + diag d²), scaled before the centre is added (exact at τ = 0: every row is μ).
                    let spread =
                        match g.Covariance with
                        | None -> eps * std.unsqueeze(0L)
                        | Some cov ->
                            let factor = tile g.Layout space.Layout cov.Factor
                            let z = torch.randn([| int64 b; factor.shape[0] |], generator = gen, dtype = torch.float32)
                            eps * (tile g.Layout space.Layout cov.Residual).unsqueeze(0L) + z.matmul(factor)
                    let spread = if rawContraction then spread.mul(scalar temperature) else spread
                    spread + mean.unsqueeze(0L)
                | FitToTargets _ | FitFullToTargets _ ->
                    invalidArg "prior" "The prior is still to be fitted to the training targets (FitToTargets, FitFullToTargets); Training.train fits it, or call Prior.fit / Prior.fitFull."
            let x0 = FlowSpace.embed space (x.``to``(device))
            if tempered && not rawContraction then
                // Canonical flow, isotropic prior: the biases (the last `biasCount` coordinates, Layout.fs order).
                let w = Layout.weightCount space.Layout
                x0.narrow(1L, int64 w, int64 (p - w)).mul_(scalar temperature) |> ignore
            x0)

    /// One line saying what the temperature acts on for this prior and flow space (see `sampleTempered`).
    let temperatureEffect (prior: Prior) (space: FlowSpace) : string =
        match space.Canonical, prior.Centre with
        | None, Origin -> "the raw prior draw, about 0"
        | None, _ -> "the raw prior draw, about the fitted mean"
        | Some _, Origin -> "the canonical prior's biases only (its hidden and last-layer directions are uniform on their spheres and have no centre to contract towards)"
        | Some _, _ -> "the raw prior draw about the fitted mean, before canonicalization"

    /// B prior samples [B, P] for the space's layout (any layout the space was moved to with FlowSpace.forLayout),
    /// drawn from `gen` (CPU) and moved to `device`: `sampleTempered 1.0`.
    let sample (prior: Prior) (space: FlowSpace) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        sampleTempered 1.0 prior space gen device b

    /// The linear skip of a fit with `LinearSkip` (LowRankCovariance): (t [B], z_t [B, P], model output [B, P]) ->
    /// ẑ1 = c(t)·z_t + c_out(t)·output; None for any other prior.
    let skip (prior: Prior) : (Tensor -> Tensor -> Tensor -> Tensor) option =
        match prior.Centre with
        | Fitted { Covariance = Some { LinearSkip = true } } ->
            Some (fun t zt out ->
                let norm = ((1.0 - t).pow(scalar 2.0) + t.pow(scalar 2.0)).sqrt()
                let c = (t / norm.pow(scalar 2.0)).unsqueeze(1L)
                let cOut = ((1.0 - t) / norm).unsqueeze(1L)
                c * zt + cOut * out)
        | _ -> None

    /// The model output as ẑ1: through the prior's linear skip (`skip`) if it has one, else as it is.
    let withSkip (prior: Prior) (t: Tensor) (zt: Tensor) (out: Tensor) : Tensor =
        match skip prior with Some s -> s t zt out | None -> out

    /// The standardization of a `Standardized` fit on `layout` (tiled to it): (to z, from z) on [B, P] tensors, or
    /// None (identity) for any other prior.
    let standardize (prior: Prior) (layout: Layout) : ((Tensor -> Tensor) * (Tensor -> Tensor)) option =
        match prior.Centre with
        | Fitted ({ Standardized = true } as g) ->
            let mean = (tile g.Layout layout g.Mean).unsqueeze(0L)
            let std = (tile g.Layout layout g.Std).unsqueeze(0L)
            let onDevice (x: Tensor) (v: Tensor) = if v.device = x.device then v else v.``to``(x.device)
            Some ((fun x -> (x - onDevice x mean) / onDevice x std), (fun z -> z * onDevice z std + onDevice z mean))
        | _ -> None
