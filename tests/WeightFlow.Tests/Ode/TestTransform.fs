module WeightFlow.Tests.Ode.TestTransform

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// Thesis §7.1's toy: prior N(0, I), target N(μ, σ²I), independent coupling, linear path. The exact x1-predictor is
/// E[x1 | x_t] = μ + tσ² (x_t - tμ) / ((1 - t)² + t²σ²) (Gaussian conditioning), so the exact flow carries the prior
/// onto the target.
let private mu, sigma = 1.0, 0.5
let private predictor : Tensor -> Tensor -> Tensor =
    fun t x ->
        let t = Field.column t
        let s2 = sigma * sigma
        let denom = (t.neg() + 1.0).square() + t.square() * s2
        (x - t * mu) * (t * s2) / denom + mu

let private sample (noise: Transform.Noise option) (seed: int64) =
    let n, p = 4000, 2
    let m = Manifold.euclidean p
    use gen = Scope.Rng.create seed
    use x0 = torch.randn([| int64 n; int64 p |], generator = gen, dtype = torch.float64)
    let step = Transform.avoidOne m (Solver.onManifold m Method.Heun)
    let step =
        match noise with
        | Some nz -> Transform.stochastic m nz gen step
        | None -> step
    let x = Integrate.run step (Field.ofPrediction m TowardsPrediction predictor) (TimeGrid.uniform 50) x0
    let mean = x.mean().ToDouble()
    let var = x.var().ToDouble()
    x.Dispose()
    mean, var, float (n * p)

[<Tests>]
let tests =
    testList "Ode.Transform" [
        test "Gaussian toy: deterministic Heun reproduces the target's mean and variance" {
            let mean, var, n = sample None 3L
            // Standard errors of the mean and variance of n Gaussian draws: σ/√n and σ²√(2/(n-1)); the integration
            // error of Heun with 50 steps is far below them.
            Expect.isLessThan (abs (mean - mu)) (4.0 * sigma / sqrt n) $"mean {mean}"
            Expect.isLessThan (abs (var - sigma * sigma)) (4.0 * sigma * sigma * sqrt (2.0 / (n - 1.0))) $"variance {var}"
        }

        test "stochastic sampling (noise in [0.5, 1)) gives a larger variance than deterministic sampling" {
            let _, det, n = sample None 3L
            let noise = { Transform.Noise.Eps = 1.0; Transform.Noise.Start = 0.5; Transform.Noise.Stop = 1.0 }
            let _, sto, _ = sample (Some noise) 3L
            // Both variances have a standard error ≈ var·√(2/n); require the gap to exceed four of them.
            Expect.isGreaterThan (sto - det) (4.0 * sto * sqrt (2.0 / n)) $"stochastic {sto} vs deterministic {det}"
        }

        test "the injected variance per unit time is ε², whatever the step count (noise scaled by sqrt(dt))" {
            let zero : VectorField = fun _ x -> torch.zeros_like(x)
            let m = Manifold.euclidean 1
            let noise = { Transform.Noise.Eps = 0.8; Transform.Noise.Start = 0.25; Transform.Noise.Stop = 0.75 }
            for k in [ 4; 64 ] do
                use gen = Scope.Rng.create 9L
                use x0 = torch.zeros([| 20000L; 1L |], dtype = torch.float64)
                use x = Integrate.run (Transform.stochastic m noise gen Solver.euler) zero (TimeGrid.uniform k) x0
                // Expected ε²·(b - a) = 0.32; the sample variance of 20,000 Gaussian draws has SE 0.32·√(2/20000).
                let var = x.var().ToDouble()
                Expect.isLessThan (abs (var - 0.32)) (4.0 * 0.32 * sqrt (2.0 / 20000.0)) $"K = {k}: variance {var}"
        }

        test "anchor-parity noise: ε unscaled at every grid time t > 0.8, so the variance grows with the step count" {
            let zero : VectorField = fun _ x -> torch.zeros_like(x)
            let m = Manifold.euclidean 1
            // Grid times k/K in (0.8, 1) before a step: K = 100 -> k = 81..99 (19 points; 0.8 itself is outside, the
            // anchor's strict inequality); K = 10 -> k = 9 (one point); K = 5 -> none (t = 0.8 is excluded).
            for k, points in [ 100, 19; 10, 1; 5, 0 ] do
                let noise = Transform.perGridPoint 0.3 0.8 k
                use gen = Scope.Rng.create 11L
                use x0 = torch.zeros([| 20000L; 1L |], dtype = torch.float64)
                use x = Integrate.run (Transform.stochastic m noise gen Solver.euler) zero (TimeGrid.uniform k) x0
                let expected = 0.09 * float points
                let var = x.var().ToDouble()
                // SE of a sample variance of 20,000 Gaussian draws: var·√(2/20000); 0 exactly when nothing is added.
                Expect.isLessThanOrEqual (abs (var - expected)) (4.0 * expected * sqrt (2.0 / 20000.0)) $"K = {k}: variance {var}, expected {expected}"
        }

        test "noise is injected only inside the window, tangent on spheres" {
            let m = Sphere.create 2 3
            use gen0 = Scope.Rng.create 5L
            use x0 = Manifold.projx m ((Manifold.random m gen0 torch.CPU 4).to_type(torch.float64))
            let zero : VectorField = fun _ x -> torch.zeros_like(x)
            let noise = { Transform.Noise.Eps = 0.3; Transform.Noise.Start = 0.5; Transform.Noise.Stop = 0.75 }
            use gen = Scope.Rng.create 6L
            let step = Transform.stochastic m noise gen (Solver.riemannianEuler m)
            let moved = System.Collections.Generic.List<bool>()
            let mutable prev = x0.clone()
            use final =
                Integrate.observed (fun k _ x ->
                    if k > 0 then moved.Add(T.maxAbsDiff x prev > 0.0)
                    prev.Dispose()
                    prev <- x.clone().DetachFromDisposeScope()) step zero (TimeGrid.uniform 8) x0
            prev.Dispose()
            // Steps start at 0, 1/8, ..., 7/8: only those at 4/8 and 5/8 lie in [0.5, 0.75).
            Expect.sequenceEqual moved [ false; false; false; false; true; true; false; false ] "window [0.5, 0.75)"
            Expect.isLessThan ((Manifold.violation m final).max().ToDouble()) 1e-14 "stays on the spheres"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
