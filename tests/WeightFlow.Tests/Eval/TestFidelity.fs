module WeightFlow.Tests.Eval.TestFidelity

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

[<Tests>]
let tests =
    testList "Fidelity" [
        test "MMD² is ~0 for one distribution and grows with a shift" {
            use g = Scope.Rng.create 4L
            let draw (shift: float) = torch.randn([| 200L; 20L |], generator = g, dtype = torch.float64) + shift
            let x = draw 0.0
            let h = Fidelity.medianBandwidth (torch.cat([| x; draw 0.0 |], 0L))
            let same = Fidelity.mmd2 h x (draw 0.0)
            let shifts = [ for s in [ 0.25; 0.5; 1.0 ] -> Fidelity.mmd2 h x (draw s) ]
            // Under the null the unbiased estimate has mean 0 and, for 200 + 200 points, a standard deviation of
            // O(1/n) ~ 5e-3 here; 0.02 is 4 of them. A shift of 1 per coordinate gives ~0.3.
            Expect.isLessThan (abs same) 0.02 "same distribution"
            Expect.isGreaterThan shifts[0] 0.02 "shift 0.25"
            Expect.isGreaterThan shifts[1] shifts[0] "0.5 > 0.25"
            Expect.isGreaterThan shifts[2] shifts[1] "1 > 0.5"
        }

        test "sliced Wasserstein: 0 for one set, the shift for a translated 1-D set, growing with a shift in 20-D" {
            use g = Scope.Rng.create 6L
            let x = torch.randn([| 50L; 1L |], generator = g, dtype = torch.float64)
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } (Fidelity.slicedWasserstein 0L 16 x x) 0.0 "same set"
            // In 1-D every unit direction is ±1 and a translation moves every quantile by the shift: exact.
            Expect.floatClose { absolute = 1e-12; relative = 1e-12 } (Fidelity.slicedWasserstein 0L 16 x (x + 0.3)) 0.3 "translation"
            let z = torch.randn([| 200L; 20L |], generator = g, dtype = torch.float64)
            let d = [ for s in [ 0.0; 0.5; 1.0 ] -> Fidelity.slicedWasserstein 0L 64 z (torch.randn([| 200L; 20L |], generator = g, dtype = torch.float64) + s) ]
            Expect.isGreaterThan d[1] d[0] "0.5 > 0"
            Expect.isGreaterThan d[2] d[1] "1 > 0.5"
        }

        test "the median bandwidth is the median pairwise distance" {
            let z = torch.tensor([| 0.0; 1.0; 3.0 |], dtype = torch.float64).view(3L, 1L)
            // pairs: 1, 3, 2 -> median 2
            Expect.floatClose Accuracy.veryHigh (Fidelity.medianBandwidth z) 2.0 "median of {1, 2, 3}"
        }
    ]
