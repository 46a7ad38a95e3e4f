/// Time-dependent vector fields over flat [B, P] states, the object every ODE solver integrates (thesis eq. 3.1,
/// STYLE §8.5). A field is a plain function; transformers (`Field.projected`, `Guidance.guided`) return new fields.
namespace WeightFlow

open TorchSharp

/// A vector field v(t, x): times -> states -> velocities. `t` is a [B] tensor (one time per row, the velocity
/// models' contract) or a 0-dim scalar tensor; `x` and the result are [B, P]. Solvers pass [B] times (`Field.times`).
type VectorField = Tensor -> Tensor -> Tensor

/// How a predicted endpoint x̂1 becomes a velocity (issue 11 item 7; anchors §6, pitfall P4).
[<NoEquality; NoComparison>]
type EndpointRule =
    /// v = log_{x_t}(x̂1) / (1 - t), on Euclidean space (x̂1 - x_t) / (1 - t): the conditional velocity of the
    /// path towards x̂1 (thesis ch. 3, Geometric flow §5 of the anchors). It corrects integration error and injected
    /// noise, and an Euler step from t with dt = 1 - t lands exactly on x̂1. Singular at t = 1: solvers must not
    /// evaluate it there (see `Transform.avoidOne`).
    | TowardsPrediction
    /// v = x̂1 - x0 with x0 = the trajectory's initial state ([B, P], the prior sample): the anchor code's rule
    /// (anchors §6, pitfall P4), for parity. Never divides by 1 - t, but neither corrects integration error nor
    /// noise: Euler samples become the average of the per-step predictions. On a manifold the result is projected
    /// onto the tangent space at x_t (pitfall P6; the anchor did not project and drifted off the spheres).
    | FromInitial of x0: Tensor

[<RequireQualifiedAccess>]
module Field =
    /// t as a [B] tensor of x's dtype and device, filled with the grid time.
    let times (x: Tensor) (t: float) : Tensor =
        torch.full([| x.shape[0] |], scalar t, dtype = x.dtype, device = x.device)

    /// t as a column that broadcasts over [B, P]: a scalar stays a scalar, [B] becomes [B, 1].
    let column (t: Tensor) : Tensor =
        if t.dim() = 0L then t
        elif t.dim() = 1L then t.unsqueeze(1L)
        elif t.dim() = 2L && t.shape[1] = 1L then t
        else invalidArg "t" $"Times must be a scalar tensor, [B] or [B, 1]; got shape %A{t.shape}."

    /// The field of an x1-predictor `predict t x_t = x̂1` ([B, P]) on manifold m under the given rule. With
    /// `TowardsPrediction`: v = log_{x_t}(x̂1) / (1 - t) (thesis ch. 3; on `Manifold.euclidean` logmap is x̂1 - x_t,
    /// so this is (x̂1 - x_t)/(1 - t) exactly). Requires t < 1 at every evaluation.
    let ofPrediction (m: Manifold) (rule: EndpointRule) (predict: Tensor -> Tensor -> Tensor) : VectorField =
        match rule with
        | TowardsPrediction ->
            fun t x ->
                let x1 = predict t x
                Manifold.logmap m x x1 / (column t).neg().add(scalar 1.0)
        | FromInitial x0 ->
            fun t x ->
                let x1 = predict t x
                Manifold.proju m x (x1 - x0)

    /// The field with every velocity projected onto the tangent space at x (a no-op on Euclidean space).
    let projected (m: Manifold) (field: VectorField) : VectorField = fun t x -> Manifold.proju m x (field t x)
