/// Temperature calibration: one temperature T_b per network, fitted on the training and validation splits together
/// by minimizing the negative log-likelihood of softmax(z / T_b) (Guo et al. 2017). Why: canonicalization fixes the last
/// layer's norm (anchors P9, `Canonical` (C.3)), which multiplies every logit by one positive factor; a canonical
/// network's raw cross-entropy is that of a softer classifier and not comparable with a raw network's. After
/// calibration the CE no longer depends on that factor, so raw and canonical networks (and flows in either space) share
/// one column.
///
/// Which rows T is fitted on (`CalibrationRows`; issue 12, docs/reproduce/uci-full/calibration-protocols.md). Until
/// then T was fitted on the validation split alone, which on UCI is 57 rows: a network that classifies them all
/// correctly has no finite maximum-likelihood T (the fit stops at the bound below), one that misses one or two gets a
/// T set by those rows. Decided on other data than the judged rows, by a criterion stated before the results (the mean
/// over every table row of |calibrated CE − CE with T fitted on the test split itself|, `scripts/calib-protocols.fsx`),
/// over the UCI main job at seeds 1 and 2 and the wine CSV (30 rows): training + validation 0.0098 against the
/// validation split's 0.0775; one pooled T per row 0.0582 (validation) / 0.0132 (training + validation). By data set
/// (validation-only / training + validation): seed 1 0.0064 / 0.0129 (there the validation split was the better one),
/// seed 2 0.202 / 0.0062 (most networks classify the 57 validation rows perfectly, the fit stopped at its bound and
/// the calibrated CE was 2-3x the raw one), wine (18 validation rows) 0.0239 / 0.0102. Fitting on rows the networks
/// were trained on makes T sharper than the test split prefers where a network fits its training rows better than new
/// ones; the bias is shared by every row of a table (flows, zoo mean, Gaussian, held-out checkpoints alike), and it
/// moved the flows' gap to the fitted Gaussian 0.004 against the flows (mean over 12 flows, measured).
///
/// Estimator. With s = 1/T, NLL(s) = mean_n [logsumexp_c(s z_nc) − s z_ny] is convex in s (a log-sum-exp of linear
/// functions of s), hence unimodal in u = log s, and golden-section search on u over a bounded interval finds its
/// minimizer to the interval's width · 0.618^iterations, batched over networks (one NLL evaluation of all B networks
/// per iteration; no gradients, no step sizes). The interval is placed relative to each network's own logit scale:
///     u ∈ [log(lo / r_b), log(hi / r_b)],  r_b = RMS over the fitted rows and classes of z_nc − mean_c z_nc,  (Cal.1)
/// so the fit is equivariant to rescaling the logits: a network whose logits are multiplied by a gets T_b · a and
/// exactly the same calibrated predictions (tested). The interval is a bound, not a prior: when a network classifies
/// every fitted row correctly, NLL falls monotonically in s and the MLE lies at s = ∞; the search then stops at
/// hi / r_b, and `AtBound` says so. Default (lo, hi) = (0.01, 20). Why 20: on the UCI zoo (57 validation rows, where
/// ~5% of networks classify the validation split perfectly) the interior optima of held-out checkpoints lie at
/// s · r_b = 3.3-8.2 (10%-90% quantiles, measured), so 20 is 2.5x the 90th percentile; with hi = 100 the mean
/// calibrated CE of 64 networks moved by up to 0.012 (20% of its value) through the two or three networks at the bound,
/// with hi = 20 by at most 0.0022 against hi = 10 (measured over three draws of 64 held-out checkpoints and
/// fitted-Gaussian samples, validation-only fits). The bound is a regularizer where the maximum-likelihood temperature
/// does not exist; rows report how many networks hit it, and the median calibrated CE beside the mean.
[<RequireQualifiedAccess>]
module WeightFlow.Calibration

open TorchSharp

/// The rows a network's temperature is fitted on (see the module's summary).
type CalibrationRows =
    /// The training and validation splits together (the default, decided in issue 12).
    | TrainingAndValidation
    /// The validation split alone (the protocol before issue 12's decision; kept to compare with it).
    | ValidationOnly

/// Calibration settings.
type CalibrationConfig =
    { /// Golden-section iterations (60 shrink the interval by 0.618^60 ≈ 3e-13).
      Iterations: int
      /// (lo, hi) of (Cal.1): bounds of s · r_b.
      ScaleRange: float * float
      /// The rows T is fitted on.
      Rows: CalibrationRows }

/// Defaults: 60 iterations over s · r_b ∈ [0.01, 20], fitted on the training + validation splits.
let defaultConfig = { Iterations = 60; ScaleRange = (0.01, 20.0); Rows = TrainingAndValidation }

/// The protocol's rows of a data set: the split the temperatures are fitted on (`Metrics.compute`'s first split).
let rowsOf (config: CalibrationConfig) (data: Dataset) : Split =
    match config.Rows with
    | ValidationOnly -> data.Valid
    | TrainingAndValidation ->
        { X = torch.cat([| data.Train.X; data.Valid.X |], 0L); Y = torch.cat([| data.Train.Y; data.Valid.Y |], 0L) }

/// The protocol's rows in words, for tables and reports ("the training + validation splits").
let describe (config: CalibrationConfig) =
    match config.Rows with
    | ValidationOnly -> "the validation split"
    | TrainingAndValidation -> "the training + validation splits"

/// A short name for cache keys ("train+valid", "valid").
let keyName (config: CalibrationConfig) =
    match config.Rows with
    | ValidationOnly -> "valid"
    | TrainingAndValidation -> "train+valid"

/// Fitted temperatures of B networks.
[<NoEquality; NoComparison>]
type Temperatures =
    { /// T_b: [B] (float32).
      Temperature: Tensor
      /// Whether the fit stopped at an end of the interval (Cal.1): [B] bool. At the upper end of s (T small)
      /// every fitted row was classified correctly and the NLL optimum is at T → 0.
      AtBound: Tensor }

/// Mean NLL of each network at scale s [B]: logits [B, N, C] (float64), y [N] -> [B].
let private nll (logits: Tensor) (y: Tensor) (s: Tensor) =
    let logp = torch.nn.functional.log_softmax(logits * s.view(-1L, 1L, 1L), -1L)
    logp.gather(2L, y.view(1L, -1L, 1L).expand(logits.shape[0], -1L, 1L)).squeeze(2L).mean([| 1L |]).neg()

/// `fit` on one batch of networks, after its checks.
let private fitBatch (config: CalibrationConfig) (logits: Tensor) (y: Tensor) : Temperatures =
    let lo, hi = config.ScaleRange
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let z = logits.to_type(torch.float64)
        let y = y.to_type(torch.int64)
        // r_b of (Cal.1); a constant network (r = 0) gets r = 1, where every temperature gives the same NLL.
        let centred = z - z.mean([| 2L |], keepdim = true)
        let r = centred.square().mean([| 1L; 2L |]).sqrt()
        let r = torch.where(r.gt(scalar 1e-30), r, torch.ones_like r)
        let logR = r.log()
        let g = (sqrt 5.0 - 1.0) / 2.0
        let f (u: Tensor) = nll z y (u.exp())
        let a0 = -logR + log lo
        let b0 = -logR + log hi
        let c0 = b0 - (b0 - a0) * g
        let d0 = a0 + (b0 - a0) * g
        // The search state (a, b, c, d, f(c), f(d)) as one [6, B] tensor, so that each iteration's [B, N, C]
        // temporaries and small tensors are freed before the next (Scope.iterate): kept to the end of the fit they
        // grew the heap ~46 MB per iteration on the MNIST evaluation (docs/results/memory-mnist.md).
        let step _ (st: Tensor) =
            let a, b, c, d, fc, fd = st[0L], st[1L], st[2L], st[3L], st[4L], st[5L]
            // Minimum in [a, d] where f(c) < f(d), else in [c, b]; the surviving interior point is reused.
            let left = fc.lt(fd)
            let a' = torch.where(left, a, c)
            let b' = torch.where(left, d, b)
            let keep = torch.where(left, c, d)
            let fkeep = torch.where(left, fc, fd)
            let fresh = torch.where(left, b' - (b' - a') * g, a' + (b' - a') * g)
            let ffresh = f fresh
            torch.stack([| a'; b'; torch.where(left, fresh, keep); torch.where(left, keep, fresh)
                           torch.where(left, ffresh, fkeep); torch.where(left, fkeep, ffresh) |], 0L)
        let st = Scope.iterate config.Iterations step (torch.stack([| a0; b0; c0; d0; f c0; f d0 |], 0L))
        let a, b = st[0L], st[1L]
        let u = (a + b) * 0.5
        // At a bound when the final interval touches an end of the initial one (to within its own width).
        let width = (b - a).abs() + 1e-12
        let atBound = (u - (-logR + log lo)).abs().le(width).logical_or((u - (-logR + log hi)).abs().le(width))
        { Temperature = u.neg().exp().to_type(torch.float32).MoveToOuterDisposeScope()
          AtBound = atBound.MoveToOuterDisposeScope() })

/// `fit` holding at most `maxLogits` logits of networks at a time (at least one network): the fits of different
/// networks are independent, so the result does not depend on it (tested); `fit` uses 4M.
let rec fitWithin (maxLogits: int64) (config: CalibrationConfig) (logits: Tensor) (y: Tensor) : Temperatures =
    let lo, hi = config.ScaleRange
    Check.arg "config" (lo > 0.0 && hi > lo) $"The calibration scale range must satisfy 0 < lo < hi; got ({lo}, {hi})."
    Check.arg "config" (config.Iterations >= 1) $"Calibration needs at least one iteration; got {config.Iterations}."
    if logits.dim() <> 3L || y.dim() <> 1L || y.shape[0] <> logits.shape[1] then
        invalidArg "logits" $"Calibration needs logits [B, N, C] and labels [N]; got %A{logits.shape} and %A{y.shape}."
    Check.arg "y" (y.shape[0] > 0L) "Calibration needs a non-empty calibration split; use a data set with training and validation rows."
    use _ = torch.no_grad ()
    let b, rows = logits.shape[0], logits.shape[1] * logits.shape[2]
    let chunk = max 1L (maxLogits / max 1L rows)
    if b > chunk then
        let parts = [| for start in 0L .. chunk .. b - 1L -> fitWithin maxLogits config (logits.narrow(0L, start, min chunk (b - start))) y |]
        let t = { Temperature = torch.cat(parts |> Array.map (fun p -> p.Temperature), 0L)
                  AtBound = torch.cat(parts |> Array.map (fun p -> p.AtBound), 0L) }
        for p in parts do
            p.Temperature.Dispose()
            p.AtBound.Dispose()
        t
    else fitBatch config logits y

/// Fits one temperature per network on logits [B, N, C] and labels [N] (int64) of the calibration rows. At most ~4M
/// logits at a time (float64 copies of 32 MB), so that fitting on a large training split (MNIST: 8,000 rows x 10
/// classes x 256 networks) does not hold GBs.
let fit (config: CalibrationConfig) (logits: Tensor) (y: Tensor) : Temperatures = fitWithin 4_000_000L config logits y
