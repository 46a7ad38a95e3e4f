/// The training objective (thesis §6.3, anchors §5). x1-prediction (the thesis' choice): the model predicts the
/// endpoint x̂1 from (t, x_t); the loss compares the projected prediction with x1:
/// - Euclidean and Normalized flows: the mean squared error over all P coordinates;
/// - Geometric flow: the mean over layers of the mean over a layer's spheres of the squared geodesic distance, plus
///   the MSE over all biases. The angle is θ = 2·atan2(‖x̂ - ŷ‖, ‖x̂ + ŷ‖) on unit rows, accurate and with a nonzero
///   gradient down to θ = 0 (anchors P7: geoopt's clamped arccos floors θ at 0.014 rad and zeroes the gradient).
/// Velocity prediction (option): the model predicts u_t; MSE against the path's conditional velocity, for the
/// Geometric flow after projecting the prediction onto the tangent space at x_t.
namespace WeightFlow

open TorchSharp

/// What the model predicts.
type Prediction =
    /// x̂1 (thesis).
    | Endpoint
    /// u_t.
    | Velocity
    /// x̂1 parameterized through a velocity, the x1-prediction loss kept: the model's output v gives
    /// x̂1 = x_t + (1 - t)·v (exp_{x_t}((1 - t)·proj v) on the Geometric flow's manifold), projected onto the space,
    /// and the loss is the endpoint loss of that x̂1. Near t = 1 the prediction is x_t plus a correction that shrinks
    /// with 1 - t, so the sample (the last Euler step lands on x̂1 at t = 1 - 1/K) is x_t up to the model's error
    /// times 1/K; with the plain Endpoint output the model has to reproduce every weight of x_t through its
    /// encoder and heads (a flat MLP narrower than P cannot at all), and that error lands in every sample.
    | EndpointViaVelocity

[<RequireQualifiedAccess>]
module Prediction =
    let text (p: Prediction) =
        match p with Endpoint -> "endpoint" | Velocity -> "velocity" | EndpointViaVelocity -> "endpoint-via-velocity"

    /// Reads `text`; files written before the option existed hold "endpoint" or "velocity".
    let parse (s: string) =
        match s.Trim().ToLowerInvariant() with
        | "endpoint" -> Endpoint
        | "velocity" -> Velocity
        | "endpoint-via-velocity" -> EndpointViaVelocity
        | _ -> Check.dataError $"Unknown prediction '{s}'; expected endpoint, velocity or endpoint-via-velocity."

[<RequireQualifiedAccess>]
module Objective =
    let private rowAngles (x: Tensor) (y: Tensor) =
        // unit rows (predictions are canonicalized already; dividing again makes the angle scale-free)
        let xh = x / x.norm(-1, true).clamp_min(scalar 1e-12)
        let yh = y / y.norm(-1, true).clamp_min(scalar 1e-12)
        torch.atan2((xh - yh).norm(-1, false), (xh + yh).norm(-1, false)) * 2.0

    /// Per-network squared geodesic loss of the Geometric flow: [B].
    let geodesicLoss (layout: Layout) (xhat: Tensor) (x1: Tensor) : Tensor =
        let depth = Layout.depth layout
        let layers =
            [ for l in 0 .. depth - 1 ->
                // rows = the hidden layer's neurons' incoming weights (Wᵀ columns), or the last layer's whole matrix
                let a = Layout.weightT layout l xhat
                let b = Layout.weightT layout l x1
                let ar, br =
                    if l < depth - 1 then a.transpose(1L, 2L), b.transpose(1L, 2L)
                    else a.flatten(1L).unsqueeze(1L), b.flatten(1L).unsqueeze(1L)
                (rowAngles ar br).pow(scalar 2.0).mean([| 1L |]) ]
        let geo = torch.stack(Array.ofList layers, 1L).mean([| 1L |])
        let wc, bc = int64 (Layout.weightCount layout), int64 (Layout.biasCount layout)
        let bias = (xhat.narrow(1L, wc, bc) - x1.narrow(1L, wc, bc)).pow(scalar 2.0).mean([| 1L |])
        geo + bias

    /// Per-network endpoint loss [B] of a projected prediction x̂1 against x1 in the flow's space.
    let endpointLoss (space: FlowSpace) (xhat: Tensor) (x1: Tensor) : Tensor =
        match space.Kind with
        | Geometric -> geodesicLoss space.Layout xhat x1
        | Euclidean | Normalized -> (xhat - x1).pow(scalar 2.0).mean([| 1L |])

    /// The endpoint of a velocity v at (t, x_t): one step to t = 1, x_t + (1 - t) v, or exp_{x_t}((1 - t) proj v) on
    /// the Geometric flow's manifold, projected onto the space (the x̂1 of Velocity and EndpointViaVelocity).
    let endpointOfVelocity (space: FlowSpace) (t: Tensor) (xt: Tensor) (v: Tensor) : Tensor =
        let rest = (Path.column t).neg().add(scalar 1.0)
        match space.Kind with
        | Geometric -> Manifold.expmap space.Manifold xt (Manifold.proju space.Manifold xt v * rest)
        | Euclidean | Normalized -> FlowSpace.project space (xt + v * rest)

    /// The projected x̂1 of a raw model output under a prediction kind.
    let endpoint (prediction: Prediction) (space: FlowSpace) (t: Tensor) (xt: Tensor) (output: Tensor) : Tensor =
        match prediction with
        | Endpoint -> FlowSpace.project space output
        | Velocity | EndpointViaVelocity -> endpointOfVelocity space t xt output

    /// Per-network loss [B] of a raw model output: x̂1 is projected onto the space first (Endpoint, or through the
    /// velocity for EndpointViaVelocity); a velocity is compared with the conditional velocity u_t (Velocity).
    let loss (prediction: Prediction) (space: FlowSpace) (output: Tensor) (x0: Tensor) (x1: Tensor) (xt: Tensor) (t: Tensor) : Tensor =
        match prediction with
        | Endpoint | EndpointViaVelocity -> endpointLoss space (endpoint prediction space t xt output) x1
        | Velocity ->
            let u = Path.velocity space.Path x0 x1 xt t
            let v = match space.Kind with Geometric -> Manifold.proju space.Manifold xt output | _ -> output
            (v - u).pow(scalar 2.0).mean([| 1L |])
