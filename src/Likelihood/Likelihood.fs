/// Likelihoods of a Euclidean flow by the instantaneous change of variables (thesis §3.4, eq. 3.22; Chen et al.
/// 2018): log p1(x1) = log p0(x0) - ∫₀¹ div v(t, x_t) dt, with x_t the ODE solution through x1, integrated from t = 1
/// back to t = 0 together with the divergence; the trace is exact (D backward passes) or Hutchinson's estimate
/// (eq. 3.23-3.24, Grathwohl et al. 2018).
///
/// Supported: Euclidean flows (densities with respect to Lebesgue measure on R^P). Not supported: the Normalized
/// and Geometric flows. Their prior and samples live on the product of spheres of the canonical weights, a null set
/// of R^P, so they have no density in R^P; a density on the product manifold would need the Riemannian divergence
/// (the trace of the tangent-projected Jacobian) and the log-density of the canonicalized Gaussian prior, which is a
/// pushforward through the sequential rescaling of canonicalization (anchors §4, P10-P11) with no closed form.
/// `logLikelihood` raises an error naming this for any non-Euclidean manifold.
namespace WeightFlow

open TorchSharp

/// Hutchinson probe distribution: E[ε] = 0, Cov(ε) = I (thesis eq. 3.23).
[<RequireQualifiedAccess>]
type Probe =
    /// ±1 entries (the lower-variance choice: the estimator's variance is 2 Σ_{i≠j} J_ij², no diagonal term).
    | Rademacher
    /// Standard normal entries.
    | Gaussian

/// How the divergence (trace of the field's Jacobian) is computed.
[<RequireQualifiedAccess>]
type Divergence =
    /// Exact: one backward pass per coordinate (P passes): small P only.
    | Exact
    /// Hutchinson: the mean of εᵀJε over `probes` vector-Jacobian products; the probes are drawn once per
    /// trajectory (FFJORD's choice, so the augmented ODE is one deterministic ODE).
    | Hutchinson of probes: int * probe: Probe

[<RequireQualifiedAccess>]
module Likelihood =
    /// log N(x; 0, s²I) per row: -‖x‖²/(2s²) - (P/2) log(2π s²). s is a standard deviation (the anchor notebook used
    /// s where a variance belongs, right only for s = 1; anchors §6).
    let logPrior (std: float) (x: Tensor) : Tensor =
        if not (std > 0.0) then invalidArg "std" $"The prior's standard deviation must be positive; got {std}."
        let p = float x.shape[1]
        x.square().sum(1L) * (-0.5 / (std * std)) - 0.5 * p * log (2.0 * System.Math.PI * std * std)

    /// Draws `count` probes of x's shape: [count, B, P], float32 from `gen` on the CPU, moved to x's dtype and device.
    let probes (probe: Probe) (count: int) (gen: torch.Generator) (x: Tensor) : Tensor =
        if count < 1 then invalidArg "probes" $"Hutchinson's estimator needs at least one probe; got {count}."
        let shape = Array.append [| int64 count |] x.shape
        let e =
            match probe with
            | Probe.Gaussian -> torch.randn(shape, generator = gen, dtype = torch.float32)
            | Probe.Rademacher ->
                use u = torch.randint(0L, 2L, shape, generator = gen, dtype = torch.float32)
                u * 2.0 - 1.0
        e.``to``(x.dtype, x.device)

    /// v(t, x) and, per probe e ([n, B, P]), the estimate eᵀ J e of div v for each row: ([B, P], [n, B]). Rows are
    /// assumed independent (each network's velocity depends on its own row only), so one vector-Jacobian product of
    /// the batch sum gives every row's estimate.
    let hutchinsonEstimates (field: VectorField) (e: Tensor) (t: Tensor) (x: Tensor) : Tensor * Tensor =
        use _ = torch.enable_grad ()
        let xg = x.detach().requires_grad_(true)
        let v = field t xg
        let n = int e.shape[0]
        let est =
            [| for i in 0 .. n - 1 ->
                let ei = e[i]
                let g = torch.autograd.grad([| (v * ei).sum() |], [| xg |], retain_graph = (i < n - 1))
                (g[0] * ei).sum(1L).detach() |]
        v.detach(), torch.stack(est, 0L)

    /// v(t, x) and the exact divergence Σ_i ∂v_i/∂x_i of each row: ([B, P], [B]), by one backward pass per coordinate.
    let exactDivergence (field: VectorField) (t: Tensor) (x: Tensor) : Tensor * Tensor =
        use _ = torch.enable_grad ()
        let xg = x.detach().requires_grad_(true)
        let v = field t xg
        let p = int x.shape[1]
        let cols =
            [| for i in 0 .. p - 1 ->
                let vi = v.narrow(1L, int64 i, 1L).sum()
                let g = torch.autograd.grad([| vi |], [| xg |], retain_graph = (i < p - 1))
                g[0].narrow(1L, int64 i, 1L).squeeze(1L).detach() |]
        v.detach(), torch.stack(cols, 1L).sum(1L)

    /// log p1(x1) for each row of x1 [B, P]: integrates the augmented state [x, a] with da/dt = div v(t, x) from
    /// t = 1 (a = 0) to t = 0 over `grid` (from 1 down to 0, e.g. `TimeGrid.reversed K`) with the Euclidean `step`
    /// over the augmented [B, P + 1] state (e.g. `Transform.avoidOne (Manifold.euclidean (P + 1)) Solver.rk4` for a
    /// field that cannot be evaluated at t = 1),
    /// then returns log p0(x(0)) + a(0), since a(0) = -∫₀¹ div v dt. `logP0` is the prior's log-density per row
    /// (e.g. `logPrior 0.1`). `gen` draws the Hutchinson probes (unused for `Exact`). One dispose scope per step.
    /// Raises for non-Euclidean manifolds (see the module comment).
    let logLikelihood
        (m: Manifold)
        (divergence: Divergence)
        (step: Step)
        (grid: float[])
        (logP0: Tensor -> Tensor)
        (gen: torch.Generator)
        (field: VectorField)
        (x1: Tensor)
        : Tensor =
        if not (m.Name.StartsWith("Euclidean(")) then
            invalidArg "flow" $"Likelihoods are supported for Euclidean flows only; this flow lives on {m.Name}. The Normalized and Geometric flows' prior and samples lie on a product of spheres (a null set of R^P, no Lebesgue density), and the canonicalized Gaussian prior has no closed-form density there. Use a Euclidean flow for log-likelihoods."
        TimeGrid.check grid
        if grid[0] <> 1.0 || grid[grid.Length - 1] <> 0.0 then
            invalidArg "grid" $"A likelihood grid runs from t = 1 to t = 0 (e.g. TimeGrid.reversed K); got %A{grid}."
        let p = x1.shape[1]
        let e =
            match divergence with
            | Divergence.Exact -> None
            | Divergence.Hutchinson (n, probe) -> Some(probes probe n gen x1)
        // The augmented field over [B, P + 1]: velocity in the first P columns, the divergence in the last.
        let augmented : VectorField =
            fun t z ->
                let x = z.narrow(1L, 0L, p)
                let v, div =
                    match e with
                    | None -> exactDivergence field t x
                    | Some e -> let v, est = hutchinsonEstimates field e t x in v, est.mean([| 0L |])
                torch.cat([| v; div.unsqueeze(1L) |], 1L)
        let z0 = torch.cat([| x1; torch.zeros([| x1.shape[0]; 1L |], dtype = x1.dtype, device = x1.device) |], 1L)
        let z = Integrate.run step augmented grid z0
        let r = Scope.run (fun () -> logP0 (z.narrow(1L, 0L, p)) + z.narrow(1L, p, 1L).squeeze(1L))
        z.Dispose()
        z0.Dispose()
        match e with
        | Some e -> e.Dispose()
        | None -> ()
        r
