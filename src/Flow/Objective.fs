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

    /// Per-network loss [B] of a raw model output: x̂1 is projected onto the space first (Endpoint); a velocity is
    /// compared with the conditional velocity u_t (Velocity).
    let loss (prediction: Prediction) (space: FlowSpace) (output: Tensor) (x0: Tensor) (x1: Tensor) (xt: Tensor) (t: Tensor) : Tensor =
        match prediction with
        | Endpoint -> endpointLoss space (FlowSpace.project space output) x1
        | Velocity ->
            let u = Path.velocity space.Path x0 x1 xt t
            let v = match space.Kind with Geometric -> Manifold.proju space.Manifold xt output | _ -> output
            (v - u).pow(scalar 2.0).mean([| 1L |])
