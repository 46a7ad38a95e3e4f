module WeightFlow.Tests.Ode.TestIntegrate

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Ode

[<Tests>]
let tests =
    testList "Ode.Integrate" [
        testSequenced <| test "memory is flat over 1,000 sampling steps (Heun, noise, guidance): same live tensor count at steps 10, 500 and 999" {
            // Measured with TorchSharp's per-thread statistics (DisposeScopeManager.Statistics.ThreadTotalLiveCount,
            // the leak guide's counter): tensors created on this thread and not yet disposed. Read inside the observer,
            // i.e. at the same point of every step, so the step's own temporaries count the same each time.
            let x, y = TestGuidance.task 1L
            use x = x
            use y = y
            use gen = Scope.Rng.create 7L
            use targets = Mlp.init gen torch.CPU TestGuidance.layout 4 0.5
            use x0 = torch.randn([| 4L; 22L |], generator = gen) * 0.1
            let m = Manifold.euclidean 22
            let field =
                Field.ofPrediction m TowardsPrediction (TestGuidance.predictor targets)
                |> Guidance.guided m { Lambda = 0.1; At = AtState } (TestGuidance.minibatchLoss gen x y)
            let noise = { Transform.Noise.Eps = 0.1; Transform.Noise.Start = 0.0; Transform.Noise.Stop = 1.0 }
            let step = Transform.stochastic m noise gen (Transform.avoidOne m Solver.heun)
            let counts = System.Collections.Generic.Dictionary<int, int64>()
            let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            let before = live ()
            use final =
                Integrate.observed (fun k _ _ -> if k = 10 || k = 500 || k = 999 then counts[k] <- live ()) step field (TimeGrid.uniform 1000) x0
            // Step 999 (the last one observed before the final step, which avoidOne turns into Euler) does the same
            // work as step 10.
            Expect.equal counts[999] counts[10] "live tensors at step 999 vs step 10"
            Expect.equal counts[500] counts[10] "live tensors at step 500 vs step 10"
            Expect.equal (live ()) (before + 1L) "after the run only the result is alive"
            Expect.isTrue (torch.isfinite(final).all().ToBoolean()) "finite samples"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
