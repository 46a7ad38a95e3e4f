module WeightFlow.Tests.Likelihood.TestLikelihood

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// A fixed non-symmetric 3×3 matrix (float64).
let private matrixA () =
    T.ofArray64 torch.CPU [ 3; 3 ] [| -0.4; 0.3; 0.1; 0.2; 0.5; -0.3; -0.1; 0.25; 0.2 |]

/// A nonlinear field with a dense Jacobian: v = tanh(x Aᵀ)·(1 + t) + 0.3 x².
let private nonlinear (a: Tensor) : VectorField =
    fun t x -> torch.tanh(x.matmul(a.t())) * (Field.column t + 1.0) + x.square() * 0.3

[<Tests>]
let tests =
    testList "Likelihood" [
        test "exact divergence of a linear field is trace(A)" {
            use a = matrixA ()
            use gen = Scope.Rng.create 1L
            use x = torch.randn([| 4L; 3L |], generator = gen, dtype = torch.float64)
            let _, div = Likelihood.exactDivergence (fun _ x -> x.matmul(a.t())) (torch.tensor(0.5)) x
            use expected = torch.full([| 4L |], scalar (a.trace().ToDouble()), dtype = torch.float64)
            Expect.allClose 1e-14 div expected "div = tr A"
        }

        test "Hutchinson's estimate lies within 4 standard errors of the exact divergence (Rademacher and Gaussian)" {
            use a = matrixA ()
            use gen = Scope.Rng.create 2L
            use x = torch.randn([| 5L; 3L |], generator = gen, dtype = torch.float64)
            use t = torch.full([| 5L |], scalar 0.3, dtype = torch.float64)
            let field = nonlinear a
            let _, exact = Likelihood.exactDivergence field t x
            for probe in [ Probe.Rademacher; Probe.Gaussian ] do
                use e = Likelihood.probes probe 400 gen x
                let _, est = Likelihood.hutchinsonEstimates field e t x
                let mean = est.mean([| 0L |])
                let se = est.std(0L) / sqrt 400.0
                let z = ((mean - exact).abs() / se).max().ToDouble()
                Expect.isLessThan z 4.0 $"%A{probe}: largest |mean - exact| / SE over the rows"
                // Not trivially satisfied: the estimates do vary (a nonzero SE), and the SE is small.
                Expect.isGreaterThan (se.min().ToDouble()) 0.0 "estimates vary"
        }

        test "log-likelihood of a linear flow equals the analytic density" {
            // v = (1 + t) A x carries x0 ~ N(0, s²I) to x1 = M x0, M = exp(1.5 A): log p1(x) = log p0(M⁻¹x) - 1.5 tr A.
            use a = matrixA ()
            let s = 0.7
            use gen = Scope.Rng.create 3L
            use x1 = torch.randn([| 6L; 3L |], generator = gen, dtype = torch.float64)
            let field : VectorField = fun t x -> x.matmul(a.t()) * (Field.column t + 1.0)
            use mInv = torch.linalg.inv(torch.linalg.matrix_exp(a * 1.5))
            use expected = Likelihood.logPrior s (x1.matmul(mInv.t())) - 1.5 * a.trace().ToDouble()
            use got =
                Likelihood.logLikelihood (Manifold.euclidean 3) Divergence.Exact Solver.rk4 (TimeGrid.reversed 40)
                    (Likelihood.logPrior s) gen field x1
            // RK4 with 40 steps on a field of norm ~1.5: truncation error ~1e-9.
            Expect.allClose 1e-7 got expected "log p1"
            use hutch =
                Likelihood.logLikelihood (Manifold.euclidean 3) (Divergence.Hutchinson(2000, Probe.Rademacher)) Solver.rk4
                    (TimeGrid.reversed 40) (Likelihood.logPrior s) gen field x1
            // Rademacher probes on a 3×3 A: each estimate's error has sd sqrt(2 Σ_{i≠j} a_ij²)·1.5 ≈ 1.2; over 2,000
            // probes 4 SE ≈ 0.11.
            Expect.allClose 0.11 hutch expected "Hutchinson log p1"
        }

        test "the Gaussian prior's log-density uses the standard deviation, not the variance (anchors §6)" {
            use x = T.ofArray64 torch.CPU [ 1; 2 ] [| 0.1; -0.2 |]
            let s = 0.1
            let expected = 2.0 * (-0.5 * log (2.0 * System.Math.PI) - log s) - (0.01 + 0.04) / (2.0 * s * s)
            Expect.floatClose Accuracy.high ((Likelihood.logPrior s x).ToDouble()) expected "log N(x; 0, 0.01 I)"
        }

        test "likelihoods of manifold flows are refused with a reason" {
            use x = torch.ones([| 1L; 3L |], dtype = torch.float64)
            use gen = Scope.Rng.create 4L
            Expect.throwsT<System.ArgumentException>
                (fun () ->
                    Likelihood.logLikelihood (Sphere.create 1 3) Divergence.Exact Solver.euler (TimeGrid.reversed 2)
                        (Likelihood.logPrior 1.0) gen (fun _ x -> x) x |> ignore)
                "sphere"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
