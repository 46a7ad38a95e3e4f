module WeightFlow.Tests.Ode.TestField

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

[<Tests>]
let tests =
    testList "Ode.Field" [
        test "x1-prediction field: every method (last step kept off t = 1) lands on a constant prediction" {
            use gen = Scope.Rng.create 1L
            use c = torch.randn([| 4L; 5L |], generator = gen, dtype = torch.float64)
            use x0 = torch.randn([| 4L; 5L |], generator = gen, dtype = torch.float64)
            let m = Manifold.euclidean 5
            let field = Field.ofPrediction m TowardsPrediction (fun _ _ -> c.alias ())
            for meth in [ Method.Euler; Method.Heun; Method.Rk4 ] do
                use x = Integrate.run (Transform.avoidOne m (Solver.onManifold m meth)) field (TimeGrid.uniform 6) x0
                // The last step is x + (1 - t)(c - x)/(1 - t): exact up to one rounding of O(1) numbers.
                Expect.allClose 1e-14 x c $"%A{meth}"
        }

        test "without avoidOne, Heun evaluates the x1-prediction field at t = 1 and produces NaN (why avoidOne exists)" {
            use c = torch.ones([| 1L; 2L |], dtype = torch.float64)
            use x0 = torch.zeros([| 1L; 2L |], dtype = torch.float64)
            let field = Field.ofPrediction (Manifold.euclidean 2) TowardsPrediction (fun _ _ -> c.alias ())
            use x = Integrate.run Solver.heun field (TimeGrid.uniform 3) x0
            Expect.isTrue (torch.isnan(x).any().ToBoolean()) "0/0 at t = 1"
        }

        test "on spheres the Euler sample lands on a constant prediction (logmap / (1 - t))" {
            let m = Sphere.create 3 4
            use gen = Scope.Rng.create 2L
            // Random points are float32; project them again in float64 so they lie on the spheres to float64 precision.
            use c = Manifold.projx m ((Manifold.random m gen torch.CPU 5).to_type(torch.float64))
            use x0 = Manifold.projx m ((Manifold.random m gen torch.CPU 5).to_type(torch.float64))
            let field = Field.ofPrediction m TowardsPrediction (fun _ _ -> c.alias ())
            use x = Integrate.run (Solver.riemannianEuler m) field (TimeGrid.uniform 8) x0
            // exp_x(log_x c) = c to float64 round-off of the trigonometric closed forms.
            Expect.allClose 1e-12 x c "lands on x̂1"
        }

        test "the anchor's rule v = x̂1 - x0 gives the average of the per-step predictions (pitfall P4)" {
            use x0 = torch.zeros([| 1L; 1L |], dtype = torch.float64)
            // x̂1 = t: the predictions at t_k = k/4 are 0, 1/4, 1/2, 3/4, whose mean is 3/8.
            let field =
                Field.ofPrediction (Manifold.euclidean 1) (FromInitial x0) (fun t x -> Field.column t + torch.zeros_like(x))
            use x = Integrate.run Solver.euler field (TimeGrid.uniform 4) x0
            Expect.floatClose Accuracy.veryHigh (x.ToDouble()) 0.375 "mean prediction"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
