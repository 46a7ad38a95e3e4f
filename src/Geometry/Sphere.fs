/// Products of spheres over the rows of a [B, groups, dim] view of a flat [B, groups·dim] tensor (ARCHITECTURE
/// decision 3): after canonicalization each hidden neuron's incoming weights lie on S^{in-1} and the last layer's
/// weights on one sphere (thesis ch. 4, anchors §4).
///
/// Numerics (STYLE §8.3, anchors pitfall P7): the angle between unit rows is θ = 2·atan2(‖x̂ - ŷ‖, ‖x̂ + ŷ‖), which
/// is accurate to relative precision for tiny angles and to absolute precision near π, and has a nonzero gradient
/// down to θ = 0; no arccos, and no clamp of ⟨x, y⟩ that would floor the distance at 0.014 rad and zero the
/// gradient of dist² in float32 as geoopt's does.
[<RequireQualifiedAccess>]
module WeightFlow.Sphere

open TorchSharp

/// The flat tensor's rows per group: [B, groups·dim] -> [B, groups, dim] (reshape, since segments of a product are
/// non-contiguous narrow views).
let private rows (groups: int) (dim: int) (x: Tensor) = x.reshape(x.shape[0], int64 groups, int64 dim)

let private flat (x: Tensor) = x.reshape(x.shape[0], -1L)

/// Row-wise dot product over the last dimension, kept for broadcasting: [B, G, 1].
let private dot (a: Tensor) (b: Tensor) = (a * b).sum(-1L, true)

/// Angle between unit rows: [B, G, 1] (see the module comment for why atan2).
let private angle (xh: Tensor) (yh: Tensor) =
    torch.atan2(Manifold.rowNorm (xh - yh) true, Manifold.rowNorm (xh + yh) true) * 2.0

/// Sphere operations on [B, G, D] rows of radius r, written on unit rows x̂ = x / r.
let private projxRows (r: float) (x: Tensor) =
    x / (Manifold.rowNorm x true).clamp_min(scalar (Manifold.tiny x)) * r

let private projuRows (r: float) (x: Tensor) (u: Tensor) =
    let xh = x / r
    u - xh * dot xh u

/// exp_x(u) = x cos n + u sin(n)/n with n = ‖u‖/r the angle travelled; sin(n)/n switches to 1 - n²/6 below the
/// Taylor threshold, and n is clamped before the division so the discarded branch has a finite gradient.
let private expmapRows (r: float) (x: Tensor) (u: Tensor) =
    let eps = Manifold.taylorEps x
    let n = Manifold.rowNorm u true / r
    let nc = n.clamp_min(scalar eps)
    let sinc = torch.where(n.lt(scalar eps), (n * n / -6.0) + 1.0, nc.sin() / nc)
    x * n.cos() + u * sinc

/// log_x(y) = r θ v/‖v‖ where v is the tangent part of ŷ - x̂: v = d - ⟨x̂, d⟩ x̂ with d = ŷ - x̂ (no cancellation of
/// ŷ - ⟨x̂,ŷ⟩x̂ for close points, so ‖v‖ ≈ sin θ to relative precision). θ/‖v‖ switches to 1 + θ²/6 below the
/// Taylor threshold. Antipodal points have no unique geodesic; there v ≈ 0 and the result is a finite vector of
/// arbitrary direction (0 when v is exactly 0, e.g. on S^0).
let private logmapRows (r: float) (x: Tensor) (y: Tensor) =
    let xh = x / r
    let yh = y / r
    let d = yh - xh
    let v = d - xh * dot xh d
    let theta = angle xh yh
    let eps = Manifold.taylorEps x
    let vn = Manifold.rowNorm v true
    let scale = torch.where(theta.lt(scalar eps), (theta * theta / 6.0) + 1.0, theta / vn.clamp_min(scalar (Manifold.tiny x)))
    v * scale * r

/// Parallel transport along the minimizing geodesic from x to y: P v = v - ⟨ŷ, v⟩/(1 + ⟨x̂, ŷ⟩) (x̂ + ŷ). It maps
/// the geodesic's direction at x to its direction at y, fixes vectors orthogonal to the great circle, and is an
/// isometry; stable for close points (1 + ⟨x̂, ŷ⟩ ≈ 2), undefined at antipodal points (clamped to stay finite).
let private transpRows (x: Tensor) (y: Tensor) (v: Tensor) (r: float) =
    let xh = x / r
    let yh = y / r
    let c = (dot xh yh + 1.0).clamp_min(scalar (Manifold.tiny x))
    v - (xh + yh) * (dot yh v / c)

/// Per-group geodesic distances: [B, G].
let private distRows (r: float) (x: Tensor) (y: Tensor) = (angle (x / r) (y / r) * r).squeeze(-1L)

/// The product of `groups` spheres of radius `radius` in R^dim (each S^{dim-1}), stored flat as [B, groups·dim]
/// and operated on as rows of the [B, groups, dim] view. Inner is the ambient dot product summed over all rows;
/// Dist is the root sum of squares of the per-row great-circle distances (the product metric). dim = 1 gives S^0
/// = {-r, +r} per row: a valid but disconnected manifold whose zero-dimensional tangent spaces let nothing move.
let createWithRadius (groups: int) (dim: int) (radius: float) : Manifold =
    if groups < 1 || dim < 1 then
        invalidArg "groups" $"A sphere product needs groups >= 1 and dim >= 1; got groups = {groups}, dim = {dim}."
    if not (radius > 0.0) || System.Double.IsInfinity radius then
        invalidArg "radius" $"A sphere's radius must be positive and finite; got {radius}."
    let r = radius
    let rw = rows groups dim
    let name =
        let s = if groups = 1 then $"S^{dim - 1}" else $"{groups}×S^{dim - 1}"
        if r = 1.0 then $"Sphere({s})" else $"Sphere({s}, r={r})"
    let m =
        Manifold.create
            name
            (groups * dim)
            (fun x -> flat (projxRows r (rw x)))
            (fun x u -> flat (projuRows r (rw x) (rw u)))
            (fun x u -> flat (expmapRows r (rw x) (rw u)))
            (fun x y -> flat (logmapRows r (rw x) (rw y)))
            (fun _ u v -> (u * v).sum(1L))
            (fun gen device b ->
                use g = torch.randn([| int64 b; int64 groups; int64 dim |], generator = gen, dtype = torch.float32)
                // A normalized standard Gaussian is uniform on the sphere.
                use p = projxRows r g
                flat(p).``to``(device))
    { m with
        Transp = fun x y v -> flat (transpRows (rw x) (rw y) (rw v) r)
        Dist = fun x y -> Manifold.rowNorm (distRows r (rw x) (rw y)) false
        Violation = fun x ->
            let rx = rw x
            Manifold.rowNorm ((Manifold.rowNorm rx false) - r) false }

/// The product of `groups` unit spheres S^{dim-1} over rows of a [B, groups, dim] view.
let create (groups: int) (dim: int) : Manifold = createWithRadius groups dim 1.0
