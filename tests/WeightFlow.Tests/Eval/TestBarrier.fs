module WeightFlow.Tests.TestBarrier

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

[<Tests>]
let tests =
    testList "Barrier" [
        test "barrier formulas on a quadratic loss (B.1)-(B.3)" {
            use g = Scope.Rng.create 2L
            use a = torch.randn([| 6L; 4L |], generator = g, dtype = torch.float64)
            use b = torch.randn([| 6L; 4L |], generator = g, dtype = torch.float64)
            // L(θ) = ‖θ‖²: L(½) = ‖(a+b)/2‖², relative = −‖a − b‖²/4, and L(t) − linear = −t(1−t)‖a − b‖² ≤ 0, max 0 at the ends.
            let r = Barrier.compute 5 4 (fun t -> t.square().sum(1L)) a b
            Expect.allClose 1e-12 r.Midpoint (((a + b) * 0.5).square().sum(1L)) "midpoint"
            Expect.allClose 1e-12 r.Relative ((a - b).square().sum(1L) * -0.25) "relative"
            Expect.allClose 1e-12 r.Maximum (torch.zeros([| 6L |], dtype = torch.float64)) "maximum"
            Expect.allClose 1e-12 (r.Losses.select(1L, 1L)) ((a * 0.75 + b * 0.25).square().sum(1L)) "t = 1/4"
        }

        test "barrier between a network and its permuted, re-aligned copy is zero" {
            let layout = Layout.parse "4-6-6-3"
            use g = Scope.Rng.create 9L
            use theta = torch.randn([| 3L; int64 (Layout.paramCount layout) |], generator = g)
            use x = torch.randn([| 20L; 4L |], generator = g)
            use y = torch.randint(3L, [| 20L |], generator = g)
            use moved = Symmetry.permute layout (Symmetry.randomPermutation g torch.CPU layout 3) theta
            let aligned = Rebasin.align (Rebasin.WeightMatching Rebasin.defaultWeightMatching) layout 3 (fun _ _ -> ()) (theta[0L]) (moved.narrow(0L, 0L, 1L))
            let r = Barrier.crossEntropy layout 3 x y (theta.narrow(0L, 0L, 1L)) aligned
            // Alignment restores the same weights bit for bit, so every point of the path is θ itself.
            Expect.allClose Tolerance.exact r.Relative (torch.zeros([| 1L |])) "aligned barrier"
            Expect.allClose Tolerance.exact r.Maximum (torch.zeros([| 1L |])) "aligned maximum barrier"
        }
        test "random pairs: two different members each, inside the population, the same for the same seed" {
            let a, b = Barrier.randomPairs 3L 7 500
            Expect.all (Array.zip a b) (fun (i, j) -> i <> j && i >= 0 && j >= 0 && i < 7 && j < 7) "distinct members of 0..6"
            Expect.equal (Barrier.randomPairs 3L 7 500) (a, b) "same seed, same pairs"
            // j is uniform over the other six: each of the 42 ordered pairs is expected ~12 times, and a uniform draw
            // misses one with probability ≈ 42·(41/42)^500 ≈ 3e-4 (the seed is fixed, so the test is deterministic); a
            // j that skipped some member would miss 7 pairs.
            Expect.equal (Array.zip a b |> Array.distinct |> Array.length) 42 "every ordered pair appears"
        }
    ]
