/// The baselines every quality table shows beside a generator, in the same space as the generator (raw aligned
/// weights, or canonicalized for the Normalized and Geometric flows): on UCI the first two already reach ~0.98
/// accuracy (evaluation-findings.md), so a generator must beat them on calibrated cross-entropy, diversity and
/// fidelity, not only on accuracy.
/// * the mean of the aligned zoo's training checkpoints, used as one network;
/// * a diagonal Gaussian fitted to them (per-coordinate mean and standard deviation), sampled;
/// * held-out checkpoints (runs the generator never saw), sampled;
/// * optionally (the MNIST reproduction, issue 13) a Gaussian with the checkpoints' full covariance, sampled: on the
///   aligned MNIST zoo it beats every flow's BMA16 without training, so it is the bar a learned flow must beat.
/// For a canonical space, the mean and the Gaussian's samples are not canonical; `project` maps them onto the
/// canonical set (e.g. `Canonical.canonicalize config layout`), `id` for raw weights.
[<RequireQualifiedAccess>]
module WeightFlow.Baselines

open TorchSharp

/// The mean of the training checkpoints [M, P], projected: [1, P].
let mean (project: Tensor -> Tensor) (training: Tensor) : Tensor =
    use _ = torch.no_grad ()
    project (training.mean([| 0L |], keepdim = true))

/// `count` samples of N(μ, diag τ²σ²) fitted to the training checkpoints [M, P] (σ: the unbiased per-coordinate
/// standard deviation) at temperature τ >= 0, projected: [count, P]. The baseline for a flow sampled at the same τ
/// (Prior.sampleTempered): μ + τ·σ·ε, the same ε for every τ from the same generator state.
let gaussianAt (temperature: float) (project: Tensor -> Tensor) (gen: torch.Generator) (count: int) (training: Tensor) : Tensor =
    Check.arg "count" (count >= 1) $"The Gaussian baseline needs a positive sample count; got {count}."
    Check.arg "training" (training.shape[0] >= 2L) "Fitting a Gaussian needs at least two training checkpoints."
    Prior.checkTemperature temperature
    use _ = torch.no_grad ()
    let mu = training.mean([| 0L |], keepdim = true)
    let sigma = training.std(0L, true, true)
    let eps = torch.randn([| int64 count; training.shape[1] |], generator = gen, dtype = training.dtype).``to``(training.device)
    let spread = sigma * eps
    // τ = 1 skips the multiplication: the untempered baseline is bit for bit what it was.
    let spread = if temperature <> 1.0 then spread.mul(scalar temperature) else spread
    project (mu + spread)

/// `gaussianAt 1.0`: N(μ, diag σ²) fitted to the training checkpoints, projected.
let gaussian (project: Tensor -> Tensor) (gen: torch.Generator) (count: int) (training: Tensor) : Tensor =
    gaussianAt 1.0 project gen count training

/// `count` samples of N(μ, τ²Ĉ), Ĉ the full (unbiased) covariance of the training checkpoints θ_j [M, P] (rank <=
/// M − 1), at temperature τ >= 0, projected: [count, P]. Drawn as θ = μ + τ·Σ_j ε_j (θ_j − μ)/√(M − 1), ε ~ N(0, I_M):
/// its covariance is τ²·AᵀA/(M − 1) = τ²Ĉ (A the centred checkpoints), exactly, without factorizing Ĉ; its diagonal is
/// the diagonal Gaussian's τ²σ² (`gaussianAt`), so the two differ only in the correlations between coordinates.
let fullGaussianAt (temperature: float) (project: Tensor -> Tensor) (gen: torch.Generator) (count: int) (training: Tensor) : Tensor =
    Check.arg "count" (count >= 1) $"The full-covariance Gaussian baseline needs a positive sample count; got {count}."
    Check.arg "training" (training.shape[0] >= 2L) "Fitting a Gaussian needs at least two training checkpoints."
    Prior.checkTemperature temperature
    use _ = torch.no_grad ()
    // in a dispose scope: the centred copy of the checkpoints (M x P) is freed at once
    Scope.run (fun () ->
        let m = training.shape[0]
        let mu = training.mean([| 0L |], keepdim = true)
        let eps = torch.randn([| int64 count; m |], generator = gen, dtype = training.dtype).``to``(training.device)
        project (mu + eps.matmul(training - mu).mul(scalar (temperature / sqrt (float (m - 1L))))))

/// `count` checkpoints drawn without replacement from held-out [H, P] (all of them, shuffled, when H <= count).
let heldOut (gen: torch.Generator) (count: int) (heldOut: Tensor) : Tensor =
    Check.arg "count" (count >= 1) $"The held-out baseline needs a positive sample count; got {count}."
    let h = heldOut.shape[0]
    let idx = torch.randperm(h, generator = gen).narrow(0L, 0L, min h (int64 count)).``to``(heldOut.device)
    heldOut.index_select(0L, idx)
