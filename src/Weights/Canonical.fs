/// Canonicalization: one representative per ReLU-scaling orbit (thesis §4.4 step 2, §6.2.2, Fig. 6.2; Pittorino et
/// al. 2022; anchors §4, P9, P10).
///
/// Front to back, for each hidden layer l and neuron k, with s_l(k) = ‖W_l[k, :]‖₂ the norm of the neuron's incoming
/// weights *after* the earlier layers were canonicalized (the bias is excluded from the norm):
///     W_l[k, :] ← W_l[k, :] / s_l(k),   b_l(k) ← b_l(k) / s_l(k),   W_{l+1}[:, k] ← s_l(k) · W_{l+1}[:, k]     (C.1)
/// This is the scaling action of `Symmetry.rescale` with c_l = 1 / s_l, so the network's function is unchanged. Because
/// the next layer's columns were multiplied by s_{l-1}, the norms are computed sequentially:
///     s_l(k) = ‖W_l[k, :] ⊙ s_{l-1}‖₂,   s_{-1} = 1.                                                                (C.2)
/// Then the last layer (weights and bias together) is multiplied by r / ‖W_L‖_F, so that ‖W_L‖_F = r:            (C.3)
/// the target radius r is `LastLayerNorm`. (C.3) multiplies every logit by one positive number: argmax and accuracy
/// are unchanged, but softmax probabilities and the cross-entropy change (it is a temperature).
///
/// Resulting geometry: every hidden neuron's incoming weights lie on a unit sphere S^{in-1}, the last layer's weight
/// matrix on the sphere of radius r in R^{h·C}, and biases stay Euclidean (rescaled).
///
/// Properties (tested): idempotent; constant on each scaling orbit; commutes with neuron permutations; preserves the
/// argmax of every prediction. A neuron whose incoming weights are exactly zero has no direction; it is left unscaled
/// (s = 1), which keeps the map total and still idempotent.
[<RequireQualifiedAccess>]
module WeightFlow.Canonical

open TorchSharp

/// The Frobenius norm r of the last layer's weights after canonicalization (C.3).
type LastLayerNorm =
    /// r = 1: the anchor code's choice (`n_labels = 1`, anchors §4, P9), and the thesis' method chapter (§6.2.2).
    | UnitNorm
    /// r = √C: the thesis' background text (§4.4), so that the logits keep an O(1) scale per class.
    | SqrtClasses
    /// Any fixed positive r.
    | Fixed of radius: float
    /// The last layer is left alone (regression, where (C.3) would change the function; anchors `skip_last`).
    | Unscaled

/// Canonicalization settings.
type CanonicalConfig =
    { LastLayerNorm: LastLayerNorm }

/// Default: r = 1 (`UnitNorm`). Why: it is what the anchor code ran (the thesis' Normalized and Geometric results came
/// from it), and it makes every segment of the canonical weights a *unit* sphere, which is the manifold the Geometric
/// flow uses. The cost: a trained network's logits shrink by 1/‖W_L‖_F, so its cross-entropy is that of a
/// softer, higher-temperature classifier (for MNIST the anchors report CE ≈ 1.4–1.6 at 70–79% accuracy, anchors §9) and
/// is not comparable with raw networks' CE; accuracy is. `SqrtClasses` scales the logits up by √C relative to `UnitNorm`.
let defaultConfig = { LastLayerNorm = UnitNorm }

/// The target radius r of (C.3) for a layout, or None when the last layer is left alone.
let lastLayerRadius (config: CanonicalConfig) (layout: Layout) : float option =
    match config.LastLayerNorm with
    | UnitNorm -> Some 1.0
    | SqrtClasses -> Some (sqrt (float layout.Widths[layout.Widths.Length - 1]))
    | Fixed r ->
        if not (r > 0.0) || System.Double.IsInfinity r then
            invalidArg "config" $"The last layer's norm must be a positive finite number; got {r}. Use UnitNorm, SqrtClasses or Fixed r with r > 0."
        Some r
    | Unscaled -> None

/// The scaling c_l = 1 / s_l of (C.1)-(C.2) that puts every hidden neuron's incoming weights on the unit sphere.
/// theta: [B, P].
let hiddenScaling (layout: Layout) (theta: Tensor) : Symmetry.Scaling =
    let depth = Layout.depth layout
    let mutable previous : Tensor option = None
    let scales =
        [ for l in 0 .. depth - 2 ->
            // Wᵀ [B, in, out]; the columns over `in` multiplied by s_{l-1} (C.2), then the norm over `in`.
            let wt = Layout.weightT layout l theta
            let wt = match previous with Some s -> wt * s.unsqueeze(2L) | None -> wt
            let s = wt.norm(1, false, 2.0f)
            let s = torch.where(s.gt(scalar 0.0), s, torch.ones_like s)
            previous <- Some s
            s.reciprocal() ]
    { Scales = scales }

/// Canonicalizes B networks: (C.1)-(C.3). theta: [B, P] -> [B, P] (fresh). Differentiable (it doubles as the
/// projection of predicted weights onto the canonical set, anchors §4).
let canonicalize (config: CanonicalConfig) (layout: Layout) (theta: Tensor) : Tensor =
    let radius = lastLayerRadius config layout
    let scaled = Symmetry.rescale layout (hiddenScaling layout theta) theta
    match radius with
    | None -> scaled
    | Some r ->
        let last = Layout.depth layout - 1
        let wt = Layout.weightT layout last scaled
        let norm = wt.flatten(1L).norm(1, true, 2.0f)
        let factor = torch.where(norm.gt(scalar 0.0), norm.reciprocal().mul(scalar r), torch.ones_like norm)
        // One factor per network for the last layer's weight block and bias; 1 elsewhere.
        let fin, fout = Layout.dims layout last
        let p = Layout.paramCount layout
        let mask = torch.zeros([| 1L; int64 p |], dtype = scaled.dtype, device = scaled.device)
        mask.narrow(1L, int64 (Layout.weightOffset layout last), int64 (fin * fout)).fill_(scalar 1.0) |> ignore
        mask.narrow(1L, int64 (Layout.biasOffset layout last), int64 fout).fill_(scalar 1.0) |> ignore
        scaled * (mask * (factor - 1.0) + 1.0)
