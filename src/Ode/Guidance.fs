/// Loss guidance as a field transformer (thesis §6.5.1, eq. 6.1): v ← v - λ·∇L, descending the base task's loss.
/// The thesis equation writes +λ∇L; its code descends (-∇L, anchors §6) and so do we. The anchor concatenated the
/// gradient in PyTorch's (out, in) order against weights stored (in, out), so its force hit transposed coordinates
/// (pitfall P8): here the gradient is taken by autograd with respect to the flat vector itself, in the flat order of
/// `Layout.fs`, so no transposition can occur; results therefore differ from the anchor's guided samples.
namespace WeightFlow

open TorchSharp

/// Where the task-loss gradient is evaluated.
[<NoEquality; NoComparison>]
type GradientAt =
    /// At the current state x_t (the anchor's choice).
    | AtState
    /// At the predicted endpoint x̂1 = predict t x_t ([B, P]); the gradient (tangent at x̂1) is carried back to x_t by
    /// `Manifold.transp`. It is not differentiated through the predictor (one extra prediction per evaluation, no
    /// backward pass through the velocity model).
    | AtEndpoint of predict: (Tensor -> Tensor -> Tensor)

/// Guidance settings: strength λ ≥ 0 and where the gradient is taken.
[<NoEquality; NoComparison>]
type GuidanceConfig = { Lambda: float; At: GradientAt }

[<RequireQualifiedAccess>]
module Guidance =
    /// Per-sample gradients of a batched loss: ∇_θ Σ_b L(θ)_b at θ [B, P], which is [∇L_b(θ_b)]_b because each
    /// network's loss depends only on its own row. `loss` maps [B, P] to [B]. Grad is enabled locally, so this works
    /// inside the sampler's no_grad; the result is detached.
    let gradient (loss: Tensor -> Tensor) (theta: Tensor) : Tensor =
        use _ = torch.enable_grad ()
        let th = theta.detach().requires_grad_(true)
        let l = loss th
        if l.dim() <> 1L || l.shape[0] <> theta.shape[0] then
            invalidArg "loss" $"A guidance loss maps [B, P] to one loss per network [B]; got shape %A{l.shape} for B = {theta.shape[0]}."
        let g = torch.autograd.grad([| l.sum() |], [| th |])
        g[0].detach()

    /// The guided field v - λ·P_x ∇L (eq. 6.1, descending). `loss` is called once per field evaluation: give it a
    /// fresh task minibatch on every call (`Guidance.minibatches`), which also makes guidance stochastic (thesis
    /// §6.5.1). λ = 0 leaves every velocity equal (v - 0·g = v for finite g). With the `TowardsPrediction` field the
    /// guidance acts through the predictor's response to x_t: a displacement that leaves x̂1 unchanged is steered back
    /// by (x̂1 - x_t)/(1 - t), so a predictor that ignores x_t undoes any guidance by t = 1 (for an exact flow
    /// ∂x̂1/∂x_t → I as t → 1, so late guidance carries through). With the anchor's `FromInitial` rule it adds
    /// -λ∫∇L dt to the sample directly.
    let guided (m: Manifold) (config: GuidanceConfig) (loss: Tensor -> Tensor) (field: VectorField) : VectorField =
        if not (config.Lambda >= 0.0) || System.Double.IsInfinity config.Lambda then
            invalidArg "lambda" $"The guidance strength must be finite and >= 0; got {config.Lambda}."
        fun t x ->
            let v = field t x
            let g =
                match config.At with
                | AtState -> Manifold.proju m x (gradient loss x)
                | AtEndpoint predict ->
                    let x1 = predict t x
                    Manifold.transp m x1 x (Manifold.proju m x1 (gradient loss x1))
            v - g * config.Lambda

    /// A loss that draws a fresh minibatch on every call: `batch` distinct rows out of `n` (a random permutation from
    /// `gen`, so a seed fixes the sequence), then `lossOn rows theta` ([B] losses on those rows; rows: int64 [batch]).
    let minibatches (gen: torch.Generator) (n: int) (batch: int) (lossOn: Tensor -> Tensor -> Tensor) : Tensor -> Tensor =
        if n < 1 || batch < 1 then
            invalidArg "batch" $"Guidance minibatches need n >= 1 rows and batch >= 1; got n = {n}, batch = {batch}."
        let b = min batch n
        fun theta ->
            use perm = torch.randperm(int64 n, generator = gen)
            let rows = perm.narrow(0L, 0L, int64 b).``to``(theta.device)
            lossOn rows theta
