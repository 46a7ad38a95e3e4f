module WeightFlow.Tests.TestLossByTime

open Expecto
open TorchSharp
open WeightFlow

let private layout = Layout.parse "3-2-2"   // 14 parameters

/// 6 targets around a common offset with an anisotropic spread, so Σ's low-rank part matters.
let private targets () =
    use gen = Scope.Rng.create 3L
    let p = int64 (Layout.paramCount layout)
    let idx = torch.arange(p, dtype = torch.float32)
    torch.randn([| 6L; p |], generator = gen) * ((idx + 1.0) * 0.05) + 0.2

/// The three prior shapes: rank-2 covariance + residual diagonal, diagonal, isotropic at the origin.
let private priors (x: Tensor) =
    [ "rank 2", { Std = 0.1; Centre = Prior.fitFull { Standardized = false; Rank = 2; LinearSkip = false } layout x }
      "diagonal", { Std = 0.1; Centre = Prior.fit false layout x }
      "origin", { Std = 0.3; Centre = Origin } ]

/// The posterior mean written out with the dense Σ and its inverse (float64): the reference for the Woodbury form.
let private dense (prior: Prior) (x: Tensor) (t: float) (xt: Tensor) =
    let p = x.shape[1]
    let f64 (a: Tensor) = a.to_type(torch.float64)
    let mu, sigma =
        match prior.Centre with
        | Fitted { Mean = m; Covariance = Some c } -> f64 m, (f64 c.Factor).t().matmul(f64 c.Factor) + torch.diag((f64 c.Residual).pow(scalar 2.0))
        | Fitted { Mean = m; Std = s } -> f64 m, torch.diag((f64 s).pow(scalar 2.0))
        | _ -> torch.zeros([| p |], dtype = torch.float64), torch.eye(p, dtype = torch.float64) * (prior.Std * prior.Std)
    let sInv = torch.linalg.inv sigma
    let y = f64 x
    let r = (f64 xt).unsqueeze(1L) - (1.0 - t) * mu - t * y.unsqueeze(0L)            // [B, N, P]
    let quad = (r.matmul(sInv) * r).sum(2L)                                            // [B, N]
    torch.softmax(-quad / (2.0 * (1.0 - t) ** 2.0), 1).matmul(y)

[<Tests>]
let tests =
    testList "LossByTime" [
        test "the empirical posterior mean equals the dense-covariance formula for each prior shape and t" {
            let x = targets ()
            let space = FlowSpace.create FlowKind.Euclidean 0.0 layout
            for name, prior in priors x do
                let predict = LossByTime.empiricalPosterior space prior x
                for t in [ 0.05; 0.3; 0.6; 0.9 ] do
                    use gen = Scope.Rng.create 5L
                    let x0 = Prior.sample prior space gen torch.CPU 4
                    let xt = (1.0 - t) * x0 + t * x.narrow(0L, 0L, 4L)
                    let got = predict (torch.full([| 4L |], scalar t)) xt
                    // float64 inside, float32 out: values up to ~1, so agreement to a few float32 roundings
                    Expect.allClose 1e-5 got ((dense prior x t xt).to_type(torch.float32)) $"{name}, t {t}"
        }

        test "at t = 0 it is the targets' mean; at a target's own point near t = 1 it is that target" {
            let x = targets ()
            let space = FlowSpace.create FlowKind.Euclidean 0.0 layout
            for name, prior in priors x do
                let predict = LossByTime.empiricalPosterior space prior x
                use gen = Scope.Rng.create 6L
                let x0 = Prior.sample prior space gen torch.CPU 6
                // t = 0: x_t carries nothing about x1, every target weighs 1/N
                let atZero = predict (torch.zeros([| 6L |])) x0
                Expect.allClose 1e-5 atZero (x.mean([| 0L |], true).expand(6L, -1L)) $"{name}: t = 0"
                // t = 0.999 with x_t on target j's path: the others are ≥ ~0.05 away against a width 0.001·Σ^{1/2}
                let t = 0.999
                let xt = (1.0 - t) * x0 + t * x
                Expect.allClose 1e-4 (predict (torch.full([| 6L |], scalar t)) xt) x $"{name}: t near 1"
                // the weights are a distribution over the targets, here concentrated on each query's own target
                let w = LossByTime.empiricalPosteriorWeights space prior x (torch.full([| 6L |], scalar t)) xt
                Expect.allClose 1e-9 (w.sum(1L)) (torch.ones([| 6L |], dtype = torch.float64)) $"{name}: weights sum to 1"
                Expect.allClose 1e-4 w (torch.eye(6L, dtype = torch.float64)) $"{name}: weights near 1 on the own target"
        }

        test "standardized pairs: t in its bucket, z = (x − μ)/s, a seed fixes them; per-pair losses of ẑ1 = z1 are 0" {
            let x = targets ()
            let space = FlowSpace.create FlowKind.Euclidean 1e-4 layout
            let prior = { Std = 0.1; Centre = Prior.fitFull { Standardized = true; Rank = 2; LinearSkip = false } layout x }
            use gen = Scope.Rng.create 1L
            let flow = { Space = space; Prior = prior; Prediction = Endpoint
                         Model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Mlp 8 1) layout }
            let pairs = LossByTime.standardizedPairs flow x 3 5 7L
            let again = LossByTime.standardizedPairs flow x 3 5 7L
            let toZ = fst (Prior.standardize prior layout).Value
            for k, b in Array.indexed pairs do
                Expect.isTrue (b.T.ge(scalar (float k / 3.0)).all().ToBoolean() && b.T.lt(scalar (float (k + 1) / 3.0)).all().ToBoolean()) $"bucket {k}: t in it"
                Expect.allClose 1e-6 b.Zt (toZ b.Xt) $"bucket {k}: z_t"
                Expect.bitExact again[k].Xt b.Xt $"bucket {k}: same seed, same x_t"
                // every z1 is a target's standardized row
                let d = torch.cdist(b.Z1, toZ x).amin([| 1L |], false)
                Expect.isLessThan (d.max().ToDouble()) 1e-5 $"bucket {k}: z1 are targets"
            let zero = LossByTime.perPairLoss pairs (fun _ _ _ -> torch.zeros([| 5L; int64 (Layout.paramCount layout) |]))
            for k, b in Array.indexed pairs do
                let own = LossByTime.perPairLoss [| b |] (fun _ _ _ -> b.Z1)
                Expect.equal own[0] (Array.zeroCreate 5) $"bucket {k}: ẑ1 = z1 costs 0"
                Expect.floatClose { absolute = 1e-6; relative = 0.0 } (Array.average zero[k]) (b.Z1.pow(scalar 2.0).mean().ToDouble()) $"bucket {k}: ẑ1 = 0 costs mean z1²"
        }

        test "the empirical posterior refuses a canonical flow and an unfitted prior" {
            let x = targets ()
            Expect.throwsC (fun () -> LossByTime.empiricalPosterior (FlowSpace.create FlowKind.Geometric 0.0 layout) (snd (priors x).Head) x |> ignore) ignore
            Expect.throwsC (fun () -> LossByTime.empiricalPosterior (FlowSpace.create FlowKind.Euclidean 0.0 layout) { Std = 0.1; Centre = FitToTargets false } x |> ignore) ignore
        }
    ]
