/// Fixed-step ODE solvers as step functions (STYLE §8.5): one step maps a field, t, dt and x to the next state.
/// Euclidean steps (Euler, Heun, RK4) and their manifold versions; all are pure (no scopes, no grad mode), batched
/// over the B rows, and take negative dt for backward integration.
namespace WeightFlow

open TorchSharp

/// One solver step: field -> t -> dt -> x [B, P] -> next x [B, P]. Step transformers (`Transform`) wrap it.
type Step = VectorField -> float -> float -> Tensor -> Tensor

/// The classical fixed-step methods by global order: Euler 1, Heun 2, RK4 4.
[<RequireQualifiedAccess>]
type Method =
    | Euler
    | Heun
    | Rk4

[<RequireQualifiedAccess>]
module Solver =
    let private at (field: VectorField) (t: float) (x: Tensor) = field (Field.times x t) x

    /// Explicit Euler: x + dt v(t, x) (thesis eq. 3.17).
    let euler : Step = fun field t dt x -> x + at field t x * dt

    /// Heun (explicit trapezoid): predictor x̃ = x + dt k1, then x + dt/2 (k1 + k2) with k2 = v(t + dt, x̃).
    let heun : Step =
        fun field t dt x ->
            let k1 = at field t x
            let k2 = at field (t + dt) (x + k1 * dt)
            x + (k1 + k2) * (dt / 2.0)

    /// The classical 4th-order Runge-Kutta step (stages at t, t + dt/2, t + dt/2, t + dt).
    let rk4 : Step =
        fun field t dt x ->
            let h = dt / 2.0
            let k1 = at field t x
            let k2 = at field (t + h) (x + k1 * h)
            let k3 = at field (t + h) (x + k2 * h)
            let k4 = at field (t + dt) (x + k3 * dt)
            x + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0)

    /// Riemannian Euler (thesis eq. 3.18): x ← exp_x(dt · P_x v(t, x)). The velocity is projected onto the tangent
    /// space first (pitfall P6: the anchor fed a non-tangent x̂1 - x0 to geoopt's expmap and drifted off the spheres).
    /// On `Manifold.euclidean` this is `euler`, bit for bit (proju is the identity, expmap is x + u).
    let riemannianEuler (m: Manifold) : Step =
        fun field t dt x -> Manifold.expmap m x (Manifold.proju m x (at field t x) * dt)

    /// Riemannian Heun: k1 = P_x v(t, x); x̃ = exp_x(dt k1); k2 = the tangent velocity at x̃ parallel-transported
    /// back to x; x ← exp_x(dt/2 (k1 + k2)). Order 2: transport back differs from the exact pull-back through
    /// exp_x (d exp_x⁻¹) by O(dt²) (curvature), which costs O(dt³) per step.
    let riemannianHeun (m: Manifold) : Step =
        fun field t dt x ->
            let k1 = Manifold.proju m x (at field t x)
            let xp = Manifold.expmap m x (k1 * dt)
            let k2 = Manifold.transp m xp x (Manifold.proju m xp (at field (t + dt) xp))
            Manifold.expmap m x ((k1 + k2) * (dt / 2.0))

    /// Riemannian RK4 as a projection method (Hairer, Lubich & Wanner, Geometric Numerical Integration §IV.4): the
    /// classical RK4 in the embedding space on the extension ṽ(y) = P_{π(y)} v(t, π(y)) (π = Projx), then x ← π(result).
    /// Every field evaluation happens on the manifold (at π(stage)), every velocity is tangent there. The exact flow
    /// of ṽ from a point of the manifold stays on it, so the embedded RK4 keeps its order 4 (local error O(dt⁵), and π
    /// moves the result by no more than that). Why not stages through expmap with velocities transported back to x (as
    /// `riemannianHeun`): on a curved manifold transport differs from the pull-back through exp_x by O(dt²), which
    /// caps such an RK4 below 4 (measured 3.0 on S², against 3.98 for this one: scripts/solver-orders.fsx).
    /// On `Manifold.euclidean` this is `rk4`.
    let riemannianRk4 (m: Manifold) : Step =
        fun field t dt x ->
            let tangent (s: float) (y: Tensor) =
                let p = Manifold.projx m y
                Manifold.proju m p (at field s p)
            let h = dt / 2.0
            let k1 = Manifold.proju m x (at field t x)
            let k2 = tangent (t + h) (x + k1 * h)
            let k3 = tangent (t + h) (x + k2 * h)
            let k4 = tangent (t + dt) (x + k3 * dt)
            Manifold.projx m (x + (k1 + k2 * 2.0 + k3 * 2.0 + k4) * (dt / 6.0))

    /// The Euclidean step of a method.
    let ofMethod (meth: Method) : Step =
        match meth with
        | Method.Euler -> euler
        | Method.Heun -> heun
        | Method.Rk4 -> rk4

    /// The manifold step of a method (on `Manifold.euclidean` it equals `ofMethod`).
    let onManifold (m: Manifold) (meth: Method) : Step =
        match meth with
        | Method.Euler -> riemannianEuler m
        | Method.Heun -> riemannianHeun m
        | Method.Rk4 -> riemannianRk4 m
