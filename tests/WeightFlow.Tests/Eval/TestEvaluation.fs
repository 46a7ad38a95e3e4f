module WeightFlow.Tests.Eval.TestEvaluation

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private data () =
    use g = Scope.Rng.create 2L
    let x = torch.randn([| 300L; 4L |], generator = g)
    let y = (x.select(1L, 0L) - x.select(1L, 2L) + torch.randn([| 300L |], generator = g) * 0.5).gt(scalar 0.0).to_type(torch.int64)
    Dataset.split "noisy" 2 2L Dataset.defaultFractions x y

let private layout = Layout.parse "4-6-2"

[<Tests>]
let tests =
    testList "Evaluation" [
        test "a row of identical networks: BMA equals the single network, diversity 0, std 0" {
            let d = data ()
            let ctx = Evaluation.prepare Evaluation.defaultConfig layout d None
            use g = Scope.Rng.create 3L
            let one = Mlp.init g torch.CPU layout 1 1.0
            let single = Evaluation.evaluate ctx "one" one
            let many = Evaluation.evaluate ctx "copies" (one.expand(8L, -1L).contiguous())
            Expect.floatClose Accuracy.high many.Bma.Nll single.CalibratedCrossEntropy "BMA NLL = the network's calibrated CE"
            Expect.floatClose Accuracy.high many.Bma.Accuracy single.AccuracyMean "BMA accuracy"
            Expect.equal many.Bma.K 8 "k = min(16, 8)"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } many.Diversity.Value 0.0 "diversity"
            Expect.floatClose { absolute = 1e-12; relative = 0.0 } many.AccuracyStd 0.0 "std"
            Expect.isNone single.Diversity "one network: no diversity"
            Expect.isNone many.NoveltyRatio "no zoo: no novelty"
        }

        test "the configured fidelity kind is the row's fidelity column, and its floor" {
            let d = data ()
            use g = Scope.Rng.create 9L
            let training = Mlp.init g torch.CPU layout 40 1.0
            let judge = Mlp.init g torch.CPU layout 20 1.0
            let theta = Mlp.init g torch.CPU layout 12 1.5
            let reference = training.narrow(0L, 0L, 1L)
            let rowOf kind =
                let config = { Evaluation.defaultConfig with Fidelity = kind; FloorSize = 30 }
                let ctx = Evaluation.prepare config layout d (Some (reference, training, judge))
                let z = ctx.Zoo.Value
                Expect.equal z.Metric.Kind kind "the context's metric is the configured kind"
                let aligned = Novelty.realign config.Alignment layout z.Novelty.Reference theta
                let row = Evaluation.evaluate ctx "x" theta
                // the row and a direct call: one computation, bit for bit up to float64 summation order
                Expect.floatClose { absolute = 1e-12; relative = 1e-10 } row.Fidelity.Value (Fidelity.distance z.Metric aligned z.Judge) "row = distance"
                row.Fidelity.Value, row.FidelityFloor.Value
            let rbf, rbfFloor = rowOf Fidelity.Kind.Rbf
            let pred, predFloor = rowOf Fidelity.Kind.Predictive
            Expect.notEqual pred rbf "another kind, another column"
            Expect.notEqual predFloor rbfFloor "and another floor"
        }

        test "the fidelity metric is part of every evaluation cache key; rbf keeps the keys cached before the option" {
            let key kind = Evaluation.fidelityKey { Evaluation.defaultConfig with Fidelity = kind }
            Expect.equal (key Fidelity.Kind.Rbf) "" "rbf: the old keys"
            let keys = Fidelity.Kind.all |> List.map key
            Expect.equal (List.distinct keys).Length keys.Length "one key per metric"
            Expect.notEqual (Evaluation.fidelityKey { Evaluation.defaultConfig with ProbeRows = 64 }) (key Fidelity.Kind.Predictive) "the probe size too"
        }

        test "the Gaussian baseline matches the training moments; the projected mean is canonical" {
            use g = Scope.Rng.create 5L
            let training = torch.randn([| 500L; int64 (Layout.paramCount layout) |], generator = g) * 0.3 + 1.0
            let samples = Baselines.gaussian id g 4000 training
            // 4,000 samples: the standard error of a mean of a coordinate with std 0.3 is ~0.005, of its std ~0.0034.
            Expect.allClose 0.03 (samples.mean([| 0L |])) (training.mean([| 0L |])) "means (6 standard errors)"
            Expect.allClose 0.02 (samples.std(0L)) (training.std(0L)) "stds (6 standard errors)"
            let project = Canonical.canonicalize Canonical.defaultConfig layout
            let mean = Baselines.mean project training
            Expect.allClose 1e-6 (project mean) mean "canonicalization is idempotent on the projected mean"
        }

        test "the Gaussian at temperature τ: τ = 1 is the plain baseline, τ < 1 the same draws contracted towards μ" {
            use g = Scope.Rng.create 6L
            let training = torch.randn([| 50L; int64 (Layout.paramCount layout) |], generator = g) * 0.3 + 1.0
            let draw tau = (use gen = Scope.Rng.create 8L in Baselines.gaussianAt tau id gen 16 training)
            let plain = (use gen = Scope.Rng.create 8L in Baselines.gaussian id gen 16 training)
            Expect.bitExact (draw 1.0) plain "τ = 1"
            let mu = training.mean([| 0L |], keepdim = true)
            // (μ + τσε) − μ = τ·((μ + σε) − μ) up to float32 rounding of O(1) values (~1e-7 each)
            Expect.allClose 1e-5 (draw 0.25 - mu) ((plain - mu) * 0.25) "contracted by τ about μ"
            Expect.allClose 1e-7 (draw 0.0) (mu.expand(16L, -1L)) "τ = 0 is μ"
            Expect.throws (fun () -> draw -1.0 |> ignore) "negative τ refused"
        }

        test "the full-covariance Gaussian: the training checkpoints' mean and covariance, in their span; deterministic; τ contracts" {
            use g = Scope.Rng.create 9L
            let p = int64 (Layout.paramCount layout)
            // 6 checkpoints: the unbiased covariance has rank 5, so a draw of the full Gaussian lies in their span,
            // where the diagonal Gaussian's does not
            let training = torch.randn([| 6L; p |], generator = g) * 0.3 + 1.0
            let n = 20000L
            let draw tau seed = (use gen = Scope.Rng.create seed in Baselines.fullGaussianAt tau id gen (int n) training)
            let s = draw 1.0 10L
            let mu = training.mean([| 0L |], keepdim = true)
            let centred = training - mu
            let cov = centred.t().matmul(centred) / 5.0
            let sc = s - s.mean([| 0L |], keepdim = true)
            let sampleCov = sc.t().matmul(sc) / float (n - 1L)
            // standard error of a sample mean: σ/√n <= ~0.5/141 = 0.0035; of a covariance entry √(C_ii C_jj + C_ij²)/√n
            // <= √2·max C_ii/√n; allow 6 standard errors over the 44 means and 44² entries
            let maxVar = cov.diag().max().ToDouble()
            Expect.allClose (6.0 * sqrt maxVar / sqrt (float n)) (s.mean([| 0L |], keepdim = true)) mu "sample mean = the checkpoints' mean"
            Expect.allClose (6.0 * sqrt 2.0 * maxVar / sqrt (float n)) sampleCov cov "sample covariance = the checkpoints' (unbiased) covariance"
            // rank 5: the 6th singular value of the centred draws is float32 rounding (~1e-7 relative), not noise
            let sv = torch.linalg.svdvals(s - mu)
            Expect.isLessThan (sv[5].ToDouble() / sv[0].ToDouble()) 1e-4 "the draws lie in the checkpoints' affine span"
            Expect.bitExact (draw 1.0 10L) s "the same seed, the same draws"
            // (μ + τ·A ε) − μ = τ·(A ε) up to float32 rounding of O(1) values
            Expect.allClose 1e-5 ((draw 0.5 10L) - mu) ((s - mu) * 0.5) "τ contracts the same draws towards μ"
            Expect.allClose 1e-6 (draw 0.0 10L) (mu.expand(n, -1L)) "τ = 0 is μ"
            Expect.throws (fun () -> Baselines.fullGaussianAt 1.0 id g 4 (training.narrow(0L, 0L, 1L)) |> ignore) "one checkpoint refused"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
