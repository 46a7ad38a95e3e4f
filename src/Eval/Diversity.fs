/// Functional diversity of a population of networks (thesis eq. 7.1-7.2): the mean pairwise Jensen-Shannon divergence
/// between networks' outputs.
///
/// The thesis fits kernel density estimators to the sets {f(θ_i, x_l)}_l of class-probability vectors and leaves K,
/// the kernel, the bandwidth and the normalization open (anchors §9). We use the estimator that needs none of them:
///     Diversity(S) = 2 / (N(N−1)) Σ_{i<j} (1/K) Σ_l JSD(p_i(·|x_l), p_j(·|x_l))                                 (D.1)
///     JSD(p, q) = H((p+q)/2) − (H(p) + H(q))/2   in nats (so 0 <= JSD <= log 2),
/// i.e. for each pair of networks, the mean over the K inputs of the exact Jensen-Shannon divergence between their
/// predictive distributions over the C classes: the pairwise JSD of the conditional distributions, exact, no density
/// estimate. Inputs: the evaluation split (the test split in every table), all of its rows. The predictive
/// distributions are the *calibrated* ones (`Metrics.CalibratedLogits`), so a canonical network's fixed logit scale
/// (anchors P9) does not shrink its diversity. Pairs i = j are left out (the thesis' 1/N² over all ordered pairs equals
/// (N−1)/N times (D.1)). The thesis' KDE variant is not implemented; its values (~1e-3 for flows) are not comparable
/// with (D.1)'s.
[<RequireQualifiedAccess>]
module WeightFlow.Diversity

open TorchSharp

/// Σ_c p log p, with 0 log 0 = 0: [..., C] -> [...].
let private negEntropy (p: Tensor) = (p * p.clamp_min(1e-300).log()).sum([| -1L |])

/// The pairwise matrix of mean-over-inputs JSD (D.1): probabilities [B, N, C] -> [B, B] (symmetric, zero diagonal up
/// to rounding). Chunked over rows so that one chunk holds about 16M values.
let pairwise (probs: Tensor) : Tensor =
    if probs.dim() <> 3L then invalidArg "probs" $"Diversity needs predictive distributions [B, N, C]; got %A{probs.shape}."
    use _ = torch.no_grad ()
    let p = probs.to_type(torch.float64)
    let b, n, c = p.shape[0], p.shape[1], p.shape[2]
    let h = negEntropy p // [B, N], −H(p)
    let rows = max 1L (16_000_000L / max 1L (b * n * c))
    let parts =
        [| for start in 0L .. rows .. b - 1L ->
            let len = min rows (b - start)
            Scope.run (fun () ->
                let pi = p.narrow(0L, start, len).unsqueeze(1L) // [r, 1, N, C]
                let m = (pi + p.unsqueeze(0L)) * 0.5 // [r, B, N, C]
                // JSD = (−H(p) − H(q))/2 + H(m) = (hp + hq)/2 − negEntropy(m)
                let jsd = (h.narrow(0L, start, len).unsqueeze(1L) + h.unsqueeze(0L)) * 0.5 - negEntropy m
                jsd.clamp_min(0.0).mean([| 2L |])) |]
    let all = torch.cat(parts, 0L)
    for q in parts do q.Dispose()
    all.to_type(torch.float32)

/// Diversity (D.1) of B >= 2 networks' predictive distributions [B, N, C]; None for fewer than two networks.
let ofProbabilities (probs: Tensor) : float option =
    let b = probs.shape[0]
    if b < 2L then None
    else
        Scope.value (fun () ->
            let m = pairwise probs
            Some(m.to_type(torch.float64).sum().ToDouble() / float (b * (b - 1L))))

/// Diversity (D.1) from logits [B, N, C] (pass calibrated logits).
let ofLogits (logits: Tensor) : float option =
    Scope.value (fun () -> ofProbabilities (Predictive.probabilities logits))
