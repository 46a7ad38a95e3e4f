/// Manifolds as values (ARCHITECTURE decision 3, STYLE §8.3): a record of batched functions over flat [B, Dim]
/// tensors, like a type-class dictionary. The three flows of the thesis (Euclidean, Normalized, Geometric; thesis
/// ch. 4, anchors §5) differ only in which manifold they are given.
namespace WeightFlow

open TorchSharp

/// A Riemannian manifold embedded in R^Dim, every operation batched over the leading B dimension of [B, Dim]
/// tensors. Laws (checked for every manifold by the test battery `TestManifold.manifoldLaws`):
/// - `Projx (Projx a) = Projx a` and `Violation (Projx a) ≈ 0`;
/// - `Proju x (Proju x a) = Proju x a` (an orthogonal projector onto the tangent space at x);
/// - `Violation (Expmap x u) ≈ 0` for every tangent u;
/// - `Expmap x (Logmap x y) = y`, `Logmap x (Expmap x v) = v` for ‖v‖ below the injectivity radius (π on spheres),
///   `Logmap x x = 0`;
/// - `Dist x (Expmap x v) = ‖v‖` below the injectivity radius, `Dist x y = Dist y x`;
/// - `Transp x y` is parallel transport along the geodesic from x to y: it preserves `Inner` and maps
///   `Logmap x y` to `-(Logmap y x)`;
/// - the tangent part of the Euclidean gradient of `Dist x y ** 2` with respect to y is `-2 Logmap y x`.
/// Every function returns a fresh tensor (never its input).
[<NoEquality; NoComparison>]
type Manifold =
    { /// Human-readable description, e.g. "Sphere(3×S^4)".
      Name: string
      /// Width of the flat coordinate vector (the segment of [B, P] this manifold owns).
      Dim: int
      /// Nearest point on the manifold of an ambient point: [B, Dim] -> [B, Dim].
      Projx: Tensor -> Tensor
      /// Orthogonal projection of an ambient vector onto the tangent space at x: x -> u -> [B, Dim].
      Proju: Tensor -> Tensor -> Tensor
      /// Exponential map: x -> tangent u -> point [B, Dim].
      Expmap: Tensor -> Tensor -> Tensor
      /// A first-order retraction (cheaper than Expmap where one exists): x -> u -> point.
      Retr: Tensor -> Tensor -> Tensor
      /// Logarithm map, the inverse of Expmap: x -> y -> tangent vector at x.
      Logmap: Tensor -> Tensor -> Tensor
      /// Parallel transport of v (tangent at x) along the geodesic from x to y: x -> y -> v -> tangent at y.
      Transp: Tensor -> Tensor -> Tensor -> Tensor
      /// Riemannian inner product at x: x -> u -> v -> [B].
      Inner: Tensor -> Tensor -> Tensor -> Tensor
      /// Geodesic distance: x -> y -> [B].
      Dist: Tensor -> Tensor -> Tensor
      /// B random points (float32) from a seeded CPU generator, moved to the device: [B, Dim].
      Random: torch.Generator -> Device -> int -> Tensor
      /// Euclidean distance of each row from the manifold: [B, Dim] -> [B]; 0 on the manifold.
      Violation: Tensor -> Tensor }

[<RequireQualifiedAccess>]
module Manifold =
    /// Below this the closed forms switch to Taylor branches: sin n / n = 1 - n²/6 and θ / sin θ = 1 + θ²/6 have
    /// relative truncation error n⁴/120, far below the dtype's epsilon at these thresholds (1e-12 / 1e-20).
    let internal taylorEps (x: Tensor) = if x.dtype = torch.float64 then 1e-5 else 1e-3

    /// Lower bound applied to a norm *before* dividing by it in a branch that `where` may discard: the discarded
    /// branch's gradient is multiplied by 0, which stays 0 only if it is finite, so 1/tiny² must not overflow.
    let internal tiny (x: Tensor) = if x.dtype = torch.float64 then 1e-100 else 1e-12

    /// Euclidean norm over the last dimension. libtorch's norm has a zero (sub)gradient at 0 instead of NaN.
    let internal rowNorm (x: Tensor) (keepdim: bool) : Tensor = x.norm(-1, keepdim)

    let private check (m: Manifold) (what: string) (x: Tensor) =
        if x.dim() <> 2L || int x.shape[1] <> m.Dim then
            invalidArg what $"{m.Name} works on flat [B, {m.Dim}] tensors but '{what}' has shape %A{x.shape}; reshape to [B, {m.Dim}] (one row per network)."

    /// Builds a manifold from its core operations and derives the rest, as a type class's defaults (STYLE §8.3):
    /// `Retr x u = projx (x + u)`; `Dist x y = sqrt (inner x l l)` with `l = logmap x y`; `Transp x y v = proju y v`
    /// (a projection, not parallel transport: override it where the exact transport is known);
    /// `Violation x = ‖x - projx x‖`. Override fields by copy-and-update (`{ m with Dist = ... }`). The derived Dist
    /// has an infinite gradient at x = y (sqrt at 0); manifolds used in losses override it with a stable formula.
    let create
        (name: string)
        (dim: int)
        (projx: Tensor -> Tensor)
        (proju: Tensor -> Tensor -> Tensor)
        (expmap: Tensor -> Tensor -> Tensor)
        (logmap: Tensor -> Tensor -> Tensor)
        (inner: Tensor -> Tensor -> Tensor -> Tensor)
        (random: torch.Generator -> Device -> int -> Tensor)
        : Manifold =
        if dim < 1 then invalidArg "dim" $"A manifold needs at least one coordinate; got Dim = {dim} for {name}."
        { Name = name
          Dim = dim
          Projx = projx
          Proju = proju
          Expmap = expmap
          Retr = fun x u -> projx (x + u)
          Logmap = logmap
          Transp = fun _ y v -> proju y v
          Inner = inner
          Dist = fun x y -> (let l = logmap x y in (inner x l l).clamp_min(scalar 0.0).sqrt())
          Random = random
          Violation = fun x -> rowNorm (x - projx x) false }

    /// R^dim with the Euclidean metric: straight lines, identity transport (the thesis' Euclidean flow).
    let euclidean (dim: int) : Manifold =
        let m =
            create
                $"Euclidean({dim})"
                dim
                (fun x -> x.alias ())
                (fun _ u -> u.alias ())
                (fun x u -> x + u)
                (fun x y -> y - x)
                (fun _ u v -> (u * v).sum(1L))
                (fun gen device b ->
                    use r = torch.randn([| int64 b; int64 dim |], generator = gen, dtype = torch.float32)
                    r.``to``(device))
        { m with
            Retr = fun x u -> x + u
            Transp = fun _ _ v -> v.alias ()
            // (x - y).norm has a zero subgradient at x = y; sqrt of a squared norm would give NaN there.
            Dist = fun x y -> rowNorm (x - y) false
            Violation = fun x -> torch.zeros([| x.shape[0] |], dtype = x.dtype, device = x.device) }

    /// Nearest point on the manifold: [B, Dim] -> [B, Dim].
    let projx (m: Manifold) (x: Tensor) = check m "x" x; m.Projx x

    /// Tangent projection at x of an ambient vector u.
    let proju (m: Manifold) (x: Tensor) (u: Tensor) = check m "x" x; check m "u" u; m.Proju x u

    /// exp_x(u).
    let expmap (m: Manifold) (x: Tensor) (u: Tensor) = check m "x" x; check m "u" u; m.Expmap x u

    /// A retraction R_x(u) (first-order agreement with exp_x).
    let retr (m: Manifold) (x: Tensor) (u: Tensor) = check m "x" x; check m "u" u; m.Retr x u

    /// log_x(y), the initial velocity of the geodesic from x reaching y at time 1.
    let logmap (m: Manifold) (x: Tensor) (y: Tensor) = check m "x" x; check m "y" y; m.Logmap x y

    /// Parallel transport of v from x to y along the geodesic.
    let transp (m: Manifold) (x: Tensor) (y: Tensor) (v: Tensor) =
        check m "x" x; check m "y" y; check m "v" v; m.Transp x y v

    /// ⟨u, v⟩_x: [B].
    let inner (m: Manifold) (x: Tensor) (u: Tensor) (v: Tensor) =
        check m "x" x; check m "u" u; check m "v" v; m.Inner x u v

    /// ‖u‖_x: [B].
    let norm (m: Manifold) (x: Tensor) (u: Tensor) = (inner m x u u).clamp_min(scalar 0.0).sqrt()

    /// Geodesic distance d(x, y): [B].
    let dist (m: Manifold) (x: Tensor) (y: Tensor) = check m "x" x; check m "y" y; m.Dist x y

    /// B random points: [B, Dim] float32 on the device.
    let random (m: Manifold) (gen: torch.Generator) (device: Device) (b: int) = m.Random gen device b

    /// Distance of each row from the manifold: [B].
    let violation (m: Manifold) (x: Tensor) = check m "x" x; m.Violation x
