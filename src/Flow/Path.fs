/// Conditional probability paths from a prior sample x0 to a target x1 (thesis §3.2, §6.3; anchors §5; Chen &
/// Lipman 2023 for the geodesic path): the interpolant x_t and its conditional velocity u_t = d/dt x_t.
namespace WeightFlow

open TorchSharp

/// A conditional path.
[<NoEquality; NoComparison>]
type Path =
    /// x_t = (1 - t) x0 + t x1 + σ ε, ε ~ N(0, I) (a Gaussian path of constant width σ; thesis UCI 1e-4, MNIST
    /// 1e-5); u_t = x1 - x0.
    | Gaussian of sigma: float
    /// x_t = exp_{x0}(t · log_{x0} x1) on the manifold; u_t = log_{x_t}(x1) / (1 - t). On the weight-space product
    /// this is per-sphere slerp for the weights and linear for the Euclidean biases.
    | Geodesic of Manifold

[<RequireQualifiedAccess>]
module Path =
    /// t as a column that broadcasts over [B, Dim]: a scalar tensor stays a scalar, [B] or [B, 1] becomes [B, 1].
    let column (t: Tensor) =
        if t.dim() = 0L then t.alias()
        elif t.dim() = 1L then t.unsqueeze(1L)
        elif t.dim() = 2L && t.shape[1] = 1L then t.alias()
        else invalidArg "t" $"Times must be a scalar tensor, [B] or [B, 1]; got shape %A{t.shape}."

    /// The geodesic interpolant x_t = exp_{x0}(t · log_{x0} x1) (thesis eq. for the Geometric flow, anchors §5);
    /// t: scalar tensor, [B] or [B, 1]. On Euclidean space this is (1 - t) x0 + t x1.
    let geodesic (m: Manifold) (x0: Tensor) (x1: Tensor) (t: Tensor) : Tensor =
        Manifold.expmap m x0 ((Manifold.logmap m x0 x1) * column t)

    /// The conditional velocity of the geodesic path at x_t: u_t = log_{x_t}(x1) / (1 - t) (anchors §5), the time
    /// derivative of `geodesic m x0 x1 t`. Requires t < 1; the caller keeps t away from 1 (e.g. t ≤ 1 - 1e-3).
    let conditionalVelocity (m: Manifold) (xt: Tensor) (x1: Tensor) (t: Tensor) : Tensor =
        (Manifold.logmap m xt x1) / (column t).neg().add(scalar 1.0)

    /// x_t for t [B]; the Gaussian path draws its ε from `gen` (CPU), so a seed fixes it.
    let sample (path: Path) (gen: torch.Generator) (x0: Tensor) (x1: Tensor) (t: Tensor) : Tensor =
        match path with
        | Gaussian sigma ->
            Scope.run (fun () ->
                let tc = column t
                let mean = x0 * (tc.neg().add(scalar 1.0)) + x1 * tc
                if sigma = 0.0 then mean
                else
                    let eps = torch.randn(x0.shape, generator = gen, dtype = x0.dtype).``to``(x0.device)
                    mean + eps * sigma)
        | Geodesic m -> geodesic m x0 x1 t

    /// The conditional velocity u_t at x_t (velocity-prediction targets): x1 - x0 on the Gaussian path (its σ-noise
    /// does not move with t), log_{x_t}(x1)/(1 - t) on the geodesic path (t < 1).
    let velocity (path: Path) (x0: Tensor) (x1: Tensor) (xt: Tensor) (t: Tensor) : Tensor =
        match path with
        | Gaussian _ -> x1 - x0
        | Geodesic m -> conditionalVelocity m xt x1 t
