module WeightFlow.Tests.TestPath

open Expecto
open TorchSharp
open WeightFlow

let private f64 = torch.float64

[<Tests>]
let tests =
    testList "Path" [
        test "the Gaussian path (σ = 0) hits its endpoints and moves with u_t = x1 - x0 (float64)" {
            use gen = Scope.Rng.create 1L
            let x0 = torch.randn([| 4L; 7L |], generator = gen, dtype = f64)
            let x1 = torch.randn([| 4L; 7L |], generator = gen, dtype = f64)
            let at (t: float) = Path.sample (Gaussian 0.0) gen x0 x1 (torch.full([| 4L |], scalar t, dtype = f64))
            // exact up to one rounding of (1 - t)·x0 + t·x1
            Expect.allClose 1e-15 (at 0.0) x0 "x_0 = x0"
            Expect.allClose 1e-15 (at 1.0) x1 "x_1 = x1"
            let h = 1e-6
            let t = torch.full([| 4L |], scalar 0.3, dtype = f64)
            // central difference of a linear function: rounding only, eps64·|x|/h ≈ 1e-10
            let fd = (at (0.3 + h) - at (0.3 - h)) / (2.0 * h)
            Expect.allClose 1e-8 (Path.velocity (Gaussian 0.0) x0 x1 (at 0.3) t) fd "u_t = d/dt x_t"
        }

        test "the Gaussian path's noise has width σ" {
            use gen = Scope.Rng.create 2L
            let x = torch.zeros([| 64L; 100L |])
            let xt = Path.sample (Gaussian 0.5) gen x x (torch.full([| 64L |], scalar 0.5))
            // std of 6,400 N(0, 0.25) draws: standard error 0.5/√12800 ≈ 0.0044; 5 standard errors
            Expect.floatClose { absolute = 0.022; relative = 0.0 } (xt.std().ToDouble()) 0.5 "std σ"
        }

        test "the geodesic path on a layout's weight-space product hits its endpoints and moves with log_{x_t}(x1)/(1-t) (float64)" {
            let l = Layout.parse "3-4-3-2"
            let m = WeightSpace.ofLayout l
            use gen = Scope.Rng.create 3L
            let canon x = Canonical.canonicalize Canonical.defaultConfig l x
            let x0 = canon (torch.randn([| 5L; int64 (Layout.paramCount l) |], generator = gen, dtype = f64))
            let v = Manifold.proju m x0 (torch.randn([| 5L; int64 (Layout.paramCount l) |], generator = gen, dtype = f64) * 0.3)
            let x1 = Manifold.expmap m x0 v
            let path = Geodesic m
            let at (t: float) = Path.sample path gen x0 x1 (torch.full([| 5L |], scalar t, dtype = f64))
            Expect.allClose 1e-12 (at 0.0) x0 "x_0 = x0"
            Expect.allClose 1e-9 (at 1.0) x1 "x_1 = x1"
            // central difference: truncation h²·|γ'''|/6 ≈ 1e-11, rounding eps64/h ≈ 1e-11
            let h = 1e-5
            let fd = (at (0.4 + h) - at (0.4 - h)) / (2.0 * h)
            let t = torch.full([| 5L |], scalar 0.4, dtype = f64)
            Expect.allClose 1e-7 (Path.velocity path x0 x1 (at 0.4) t) fd "u_t = d/dt x_t"
        }
    ]
