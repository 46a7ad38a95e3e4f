module WeightFlow.Tests.Ode.TestSolver

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private f64 (rows: float[][]) =
    T.ofArray64 torch.CPU [ rows.Length; rows[0].Length ] (Array.concat rows)


/// Three starting points in R^3 / on S^2 (float64; off the equator so the rotation's orbits are not geodesics).
let private starts () =
    let x = f64 [| [| 1.0; 0.5; 0.8 |]; [| -0.3; 0.9; -0.4 |]; [| 0.2; -0.7; 0.6 |] |]
    x / x.norm(1, true)

let private euclidean = Manifold.euclidean 3
let private sphere = Sphere.create 1 3

/// Rotation about e_z with angular speed ω(t) = 1 + t: v = ω(t) (e_z × x) = ω(t) (-x_2, x_1, 0). Tangent to every
/// sphere about 0; exact solution: rotation by Φ(t) = t + t²/2, Φ(1) = 1.5.
let private rotation : VectorField =
    fun t x ->
        let w = Field.column t + 1.0
        let x0 = x.narrow(1L, 0L, 1L)
        let x1 = x.narrow(1L, 1L, 1L)
        torch.cat([| x1.neg(); x0; torch.zeros_like(x0) |], 1L) * w

let private rotated (phi: float) (x: Tensor) =
    let c, s = cos phi, sin phi
    let a = x.narrow(1L, 0L, 1L)
    let b = x.narrow(1L, 1L, 1L)
    torch.cat([| a * c - b * s; a * s + b * c; x.narrow(1L, 2L, 1L) |], 1L)

/// dx/dt = t·x in R^3: x(1) = x0·e^{1/2}.
let private linearInTime : VectorField = fun t x -> x * Field.column t

/// Largest error at t = 1 after k steps.
let private errorAfter (step: Step) (field: VectorField) (exact: Tensor -> Tensor) (k: int) =
    use x0 = starts ()
    use x = Integrate.run step field (TimeGrid.uniform k) x0
    T.maxAbsDiff x (exact x0)

/// Observed order log2(e(K) / e(2K)) at K = k and 2k.
let private order (step: Step) field exact (k: int) =
    let e1 = errorAfter step field exact k
    let e2 = errorAfter step field exact (2 * k)
    log (e1 / e2) / log 2.0

let private methods =
    [ "Euler", Method.Euler, 1.0, 16; "Heun", Method.Heun, 2.0, 16; "RK4", Method.Rk4, 4.0, 8 ]

[<Tests>]
let tests =
    testList "Ode.Solver" [
        test "every solver moves a constant field's state by exactly c·1 (Euclidean, float64)" {
            use c = f64 [| [| 0.5; -1.25; 2.0 |] |]
            let field : VectorField = fun _ x -> c.expand_as(x).clone()
            for name, meth, _, _ in methods do
                for step in [ Solver.ofMethod meth; Solver.onManifold euclidean meth ] do
                    use x0 = starts ()
                    use x = Integrate.run step field (TimeGrid.uniform 7) x0
                    // Seven float64 additions of O(1) numbers: a few ulps (2.2e-16 each).
                    Expect.allClose 1e-14 x (x0 + c) $"{name}: x(1) = x0 + c"
        }

        test "3t² field: RK4 (Simpson) is exact, Euler and Heun give their closed-form quadrature sums" {
            let field : VectorField = fun t x -> (Field.column t).square().expand_as(x) * 3.0
            for k in [ 1; 4; 10 ] do
                let kf = float k
                // Euler: Σ 3 t_k² dt = 1 - (3K - 1)/(2K²); trapezoid: 1 + 1/(2K²); Simpson integrates cubics exactly.
                for meth, gain in [ Method.Euler, 1.0 - (3.0 * kf - 1.0) / (2.0 * kf * kf)
                                    Method.Heun, 1.0 + 1.0 / (2.0 * kf * kf)
                                    Method.Rk4, 1.0 ] do
                    use x0 = starts ()
                    use x = Integrate.run (Solver.ofMethod meth) field (TimeGrid.uniform k) x0
                    Expect.allClose 1e-13 x (x0 + gain) $"%A{meth}, K = {k}"
        }

        test "on S², Euler and Heun follow a geodesic field exactly; RK4 to its truncation error" {
            // v = 3t² (a × x) with a ⊥ x0: x0 moves along a great circle by the angle ∫ 3t² = quadrature sum.
            use x0 = f64 [| [| 1.0; 0.0; 0.0 |]; [| 0.0; 1.0; 0.0 |] |]
            let field : VectorField =
                fun t x -> rotation (torch.zeros_like(t)) x * (Field.column t).square() * 3.0
            let k = 6
            for meth, angle in [ Method.Euler, 1.0 - (3.0 * 6.0 - 1.0) / 72.0; Method.Heun, 1.0 + 1.0 / 72.0 ] do
                use x = Integrate.run (Solver.onManifold sphere meth) field (TimeGrid.uniform k) x0
                // expmap's cos/sin and transport: a few float64 ulps per step.
                Expect.allClose 1e-13 x (rotated angle x0) $"%A{meth}"
            use x = Integrate.run (Solver.onManifold sphere Method.Rk4) field (TimeGrid.uniform k) x0
            Expect.allClose 1e-3 x (rotated 1.0 x0) "RK4 (projection method), K = 6"
            Expect.isLessThan ((Manifold.violation sphere x).max().ToDouble()) 1e-15 "RK4 ends on the sphere"
        }

        test "convergence orders on R^3 (dx/dt = t x): Euler 1, Heun 2, RK4 4" {
            for name, meth, expected, k in methods do
                let p = order (Solver.ofMethod meth) linearInTime (fun x0 -> x0 * exp 0.5) k
                // The observed order approaches the method's order as dt -> 0; at these K the next error term moves
                // it by less than 0.15 (measured 0.96 / 2.09 / 4.10; S²: 0.97 / 2.01 / 3.91; scripts/solver-orders.fsx).
                Expect.isTrue (abs (p - expected) < 0.15) $"{name}: observed order {p}, expected {expected}"
        }

        test "convergence orders on S² (rotation with ω = 1 + t, off-geodesic orbits): Euler 1, Heun 2, RK4 4" {
            for name, meth, expected, k in methods do
                let step = Solver.onManifold sphere meth
                let p = order step rotation (rotated 1.5) k
                Expect.isTrue (abs (p - expected) < 0.15) $"{name}: observed order {p}, expected {expected}"
                use x0 = starts ()
                use x = Integrate.run step rotation (TimeGrid.uniform k) x0
                Expect.isLessThan ((Manifold.violation sphere x).max().ToDouble()) 1e-14 $"{name} stays on S²"
        }

        test "manifold steps on Euclidean space are the Euclidean steps, bit for bit" {
            for name, meth, _, _ in methods do
                use x0 = starts ()
                use a = Integrate.run (Solver.ofMethod meth) rotation (TimeGrid.uniform 5) x0
                use b = Integrate.run (Solver.onManifold euclidean meth) rotation (TimeGrid.uniform 5) x0
                Expect.bitExact b a name
        }

        test "schedules: K steps are K + 1 points from 0 to 1; bad grids are rejected" {
            Expect.equal (TimeGrid.uniform 4) [| 0.0; 0.25; 0.5; 0.75; 1.0 |] "uniform 4"
            Expect.equal (TimeGrid.uniform 3).[3] 1.0 "last point is exactly 1"
            Expect.throwsT<System.ArgumentException> (fun () -> TimeGrid.uniform 0 |> ignore) "zero steps"
            Expect.throwsT<System.ArgumentException> (fun () -> TimeGrid.check [| 0.0; 0.5; 0.5 |]) "not monotone"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
