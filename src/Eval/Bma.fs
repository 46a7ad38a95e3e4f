/// Bayesian model averaging over k networks (thesis eq. 2.1): p(y | x, D) ≈ (1/k) Σ_i p(y | x, θ_i), θ_i sampled
/// networks, and its curve over k = 1, 2, 4, ... The thesis averages predictive probabilities; the anchor code averages
/// raw logits and takes the argmax (anchors §9, P18), offered as `Logits` for parity. Each point of the curve is the
/// mean over `Subsets` random subsets of size k drawn without replacement (seeded), all subsets of all k evaluated as
/// one gathered tensor.
[<RequireQualifiedAccess>]
module WeightFlow.Bma

open TorchSharp

/// What is averaged.
type Averaging =
    /// Softmax probabilities (thesis eq. 2.1): the predictive distribution is the mixture.
    | Probabilities
    /// Logits, then softmax (the anchor code's `model_average`): a product of experts, not a mixture.
    | Logits

/// BMA settings.
type BmaConfig =
    { Averaging: Averaging
      /// Random subsets per k (for k = B every subset is the whole population).
      Subsets: int
      Seed: int64 }

/// Defaults: probability averaging, 8 subsets per k, seed 0.
let defaultConfig = { Averaging = Probabilities; Subsets = 8; Seed = 0L }

/// One point of the curve: the mean over subsets of the averaged predictor's accuracy and NLL.
type BmaPoint = { K: int; Accuracy: float; Nll: float }

/// k = 1, 2, 4, ... up to kMax, with kMax itself as the last point when it is not a power of two.
let ks (kMax: int) : int list =
    Check.arg "kMax" (kMax >= 1) $"BMA needs k >= 1; got {kMax}."
    let powers = List.unfold (fun k -> if k <= kMax then Some(k, k * 2) else None) 1
    if List.last powers = kMax then powers else powers @ [ kMax ]

/// The averaged log predictive of subsets: logits [B, N, C], idx [R, k] -> [R, N, C] log-probabilities.
let averagedLogProbabilities (averaging: Averaging) (logits: Tensor) (idx: Tensor) : Tensor =
    let k = idx.shape[1]
    let chosen = logits.index_select(0L, idx.reshape(-1L)).view(idx.shape[0], k, logits.shape[1], logits.shape[2])
    match averaging with
    // log (1/k) Σ_i p_i = logsumexp_i log p_i − log k: stable where some p_i underflow.
    | Probabilities -> torch.logsumexp(Predictive.logProbabilities chosen, 1L, false) - log (float k)
    | Logits -> Predictive.logProbabilities (chosen.mean([| 1L |]))

/// One point: accuracy and NLL of the averaged predictor of `subsets` random k-subsets of B networks.
let point (config: BmaConfig) (k: int) (logits: Tensor) (y: Tensor) : BmaPoint =
    let b = int logits.shape[0]
    Check.arg "k" (k >= 1 && k <= b) $"BMA over k networks needs 1 <= k <= {b} (the population's size); got k = {k}."
    Check.arg "config" (config.Subsets >= 1) $"BMA needs at least one subset per k; got {config.Subsets}."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        use g = Scope.Rng.create (Scope.Rng.derive config.Seed (int64 k))
        let r = if k = b then 1 else config.Subsets
        // The first k entries of a random permutation of the B networks, per subset: [R, k].
        let idx = torch.rand([| int64 r; int64 b |], generator = g).argsort(1L).narrow(1L, 0L, int64 k).``to``(logits.device)
        let logp = averagedLogProbabilities config.Averaging logits idx
        let yr = y.view(1L, -1L).expand(int64 r, -1L)
        let acc = logp.argmax(-1L).eq(yr).to_type(torch.float64).mean().ToDouble()
        let nll = logp.gather(2L, yr.unsqueeze(2L)).mean().neg().ToDouble()
        { K = k; Accuracy = acc; Nll = nll })

/// The curve over k = 1, 2, 4, ..., kMax (kMax <= B). logits: [B, N, C] (calibrated, for a fair NLL); y: [N].
let curve (config: BmaConfig) (kMax: int) (logits: Tensor) (y: Tensor) : BmaPoint list =
    ks kMax |> List.map (fun k -> point config k logits y)
