/// The three flows of the thesis (ch. 4, §6.2; anchors §5) as configuration values, not subclasses or flags: the
/// space the targets live in, the path between prior and target, and how predictions are projected.
/// - Euclidean: the aligned raw weights, a Gaussian path of width σ, predictions as they are.
/// - Normalized: canonicalized weights (Canonical), the same Euclidean path (x_t lies inside the spheres, not on
///   them), predictions canonicalized before the loss.
/// - Geometric: canonicalized weights on the weight-space product of spheres (each hidden neuron's incoming weights
///   on S^{in-1}, the last layer on one sphere, Euclidean biases), the geodesic path, predictions canonicalized.
namespace WeightFlow

open TorchSharp

/// Which of the three flows.
type FlowKind =
    | Euclidean
    | Normalized
    | Geometric

/// A flow's space for one layout.
[<NoEquality; NoComparison>]
type FlowSpace =
    { Kind: FlowKind
      Layout: Layout
      /// The canonicalization (Normalized, Geometric), None for the Euclidean flow.
      Canonical: Canonical.CanonicalConfig option
      /// The manifold the samples live on: R^P (Euclidean, Normalized) or the weight-space product (Geometric).
      Manifold: Manifold
      /// The conditional path.
      Path: Path
      /// σ of the Gaussian path (unused by the geodesic path).
      Sigma: float
      /// How the model's input and output are scaled along the path (Unscaled unless training fitted scales).
      Preconditioning: Preconditioning }

[<RequireQualifiedAccess>]
module FlowKind =
    let text (k: FlowKind) = match k with Euclidean -> "euclidean" | Normalized -> "normalized" | Geometric -> "geometric"

    let parse (s: string) =
        match s.ToLowerInvariant() with
        | "euclidean" -> Euclidean
        | "normalized" -> Normalized
        | "geometric" -> Geometric
        | _ -> Check.dataError $"Unknown flow '{s}'; expected euclidean, normalized or geometric."

[<RequireQualifiedAccess>]
module FlowSpace =
    /// The space of a flow kind for `layout`; σ is the Gaussian path's width (thesis: 1e-4 on UCI).
    let create (kind: FlowKind) (sigma: float) (layout: Layout) : FlowSpace =
        Check.arg "sigma" (sigma >= 0.0) $"The path width σ must be >= 0; got {sigma}."
        let p = Layout.paramCount layout
        let canonical = Canonical.defaultConfig
        match kind with
        | Euclidean ->
            { Kind = kind; Layout = layout; Canonical = None; Manifold = Manifold.euclidean p; Path = Gaussian sigma; Sigma = sigma; Preconditioning = Unscaled }
        | Normalized ->
            { Kind = kind; Layout = layout; Canonical = Some canonical; Manifold = Manifold.euclidean p; Path = Gaussian sigma; Sigma = sigma; Preconditioning = Unscaled }
        | Geometric ->
            let radius = Canonical.lastLayerRadius canonical layout |> Option.defaultValue 1.0
            let m = WeightSpace.ofLayoutWithRadius radius layout
            { Kind = kind; Layout = layout; Canonical = Some canonical; Manifold = m; Path = Geodesic m; Sigma = sigma; Preconditioning = Unscaled }

    /// The same flow on another layout of the same depth (sampling a wider network, thesis §7.3.4).
    let forLayout (layout: Layout) (s: FlowSpace) : FlowSpace =
        if Layout.depth layout <> Layout.depth s.Layout then
            invalidArg "layout" $"A flow over {s.Layout} networks runs only on layouts of the same depth; {layout} has depth {Layout.depth layout}."
        // the preconditioning's scales are per layer, so they carry over to any layout of the same depth
        if layout = s.Layout then s else { create s.Kind s.Sigma layout with Preconditioning = s.Preconditioning }

    /// Weights [B, P] into the flow's space: canonicalized for Normalized and Geometric, a copy otherwise.
    let embed (s: FlowSpace) (theta: Tensor) : Tensor =
        match s.Canonical with
        | Some c -> Canonical.canonicalize c s.Layout theta
        | None -> theta.alias()

    /// Predicted endpoints projected onto the space (the anchors' normalize_pred, §4-5): canonicalization for the
    /// Normalized and Geometric flows (differentiable), the identity for the Euclidean flow.
    let project (s: FlowSpace) (x: Tensor) : Tensor = embed s x
