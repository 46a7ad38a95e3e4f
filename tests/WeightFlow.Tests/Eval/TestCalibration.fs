module WeightFlow.Tests.Eval.TestCalibration

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// Logits of B networks on N inputs with C classes whose labels agree with the logits' argmax most of the time.
let private logitsAndLabels (seed: int64) (b: int64) (n: int64) (c: int64) =
    use g = Scope.Rng.create seed
    // Every network is a noisy copy of one informative logit table; labels are its argmax with 20% replaced at
    // random, so the networks are imperfect but better than chance and the NLL optimum lies inside the interval.
    let z0 = torch.randn([| 1L; n; c |], generator = g, dtype = torch.float64) * 2.0
    let z = z0 + torch.randn([| b; n; c |], generator = g, dtype = torch.float64) * 0.5
    let y = z0.select(0L, 0L).argmax(-1L)
    let flip = torch.rand([| n |], generator = g).lt(scalar 0.2)
    let y = torch.where(flip, torch.randint(c, [| n |], generator = g), y)
    z, y

let private nll (z: torch.Tensor) (y: torch.Tensor) = Mlp.crossEntropyOfLogits z y

[<Tests>]
let tests =
    testList "Calibration" [
        testPropertyWithConfig { config with maxTest = 20 } "the fitted temperature never raises the NLL on the split it was fitted on, and is the grid minimum" (fun (seed: int) ->
            let z, y = logitsAndLabels (int64 seed) 5L 40L 3L
            let t = Calibration.fit Calibration.defaultConfig z y
            let fitted = nll (Predictive.scale t.Temperature z) y
            // T = 1 lies inside the search interval: s = 1 means s·r = r, and these logits have r ~2, inside [0.01, 20].
            Expect.isTrue ((fitted - nll z y).le(scalar 1e-6).all().ToBoolean()) "calibrated NLL <= raw NLL (float32 temperature: 1e-6)"
            // A grid of 401 log-temperatures over the same interval finds nothing lower (beyond float32 rounding of T).
            let grid = torch.linspace(-6.0, 6.0, 401L, dtype = torch.float64)
            let best =
                [| for i in 0L .. 400L -> nll (z * grid[i].exp()) y |] |> torch.stack |> fun m -> m.amin([| 0L |])
            Expect.isFalse (t.AtBound.any().ToBoolean()) "no fit at a bound"
            Expect.isTrue ((fitted - best).le(scalar 1e-6).all().ToBoolean()) "golden section finds the minimum")

        testProp "scaling the logits by a is undone: T scales by a and the calibrated predictions are equal" (fun (seed: int) ->
            let z, y = logitsAndLabels (int64 seed) 4L 30L 2L
            let t1 = Calibration.fit Calibration.defaultConfig z y
            for a in [ 0.05; 7.0 ] do
                let ta = Calibration.fit Calibration.defaultConfig (z * a) y
                // Golden section on log T converges to ~1e-13; float32 temperatures carry ~1e-7 relative error.
                Expect.allClose 1e-5 (ta.Temperature / t1.Temperature) (torch.full(4L, a, dtype = torch.float32)) $"T scales by a = {a}"
                Expect.allClose 1e-5 (Predictive.scale ta.Temperature (z * a)) (Predictive.scale t1.Temperature z) "calibrated logits")

        test "a canonicalized network has the raw network's calibrated CE, not its raw CE" {
            let layout = Layout.parse "6-8-8-3"
            use g = Scope.Rng.create 5L
            let theta = torch.randn([| 4L; int64 (Layout.paramCount layout) |], generator = g) * 0.7
            let x = torch.randn([| 80L; 6L |], generator = g)
            let y = (Mlp.forward layout (theta.narrow(0L, 0L, 1L)) x).squeeze(0L).argmax(-1L)
            let y = torch.where(torch.rand([| 80L |], generator = g).lt(scalar 0.15), torch.randint(3L, [| 80L |], generator = g), y)
            let split = { X = x; Y = y }
            let canon = Canonical.canonicalize Canonical.defaultConfig layout theta
            let raw = Metrics.compute Calibration.defaultConfig layout split split theta
            let can = Metrics.compute Calibration.defaultConfig layout split split canon
            Expect.allClose 1e-6 can.Accuracy raw.Accuracy "accuracy"
            // float32 forwards of two parameterizations of one function differ by ~1e-6 relative.
            Expect.allClose 1e-4 can.CalibratedCrossEntropy raw.CalibratedCrossEntropy "calibrated CE"
            Expect.isGreaterThan ((can.CrossEntropy - raw.CrossEntropy).abs().max().ToDouble()) 1e-2 "raw CE differs (the logit scale)"
        }

        test "the default protocol fits T on the training + validation rows: the known maximum-likelihood T" {
            // A 1-2 linear network with W = (0, 1), b = 0 has logits (0, x): on inputs x = ±1 with label 1 every row
            // has margin 1, and k of N rows are wrong. NLL(s) = [(N − k) log(1 + e^(−s)) + k log(1 + e^s)] / N is
            // minimal where σ(s) = (N − k) / N, i.e. T = 1 / log((N − k) / k). Training: 2 of 20 rows wrong;
            // validation: 10 rows, all right (the validation-only MLE is T → 0, the fit stops at its bound).
            let layout = Layout.parse "1-2"
            let theta = torch.tensor([| 0.0f; 1.0f; 0.0f; 0.0f; 0.0f; 2.0f; 0.0f; 0.0f |]).view(2L, 4L) // second: logits x 2
            let split (xs: float32 list) = { X = torch.tensor(Array.ofList xs).view(-1L, 1L); Y = torch.ones([| int64 xs.Length |], dtype = torch.int64) }
            let data =
                { Name = "margins"; Features = 1; Classes = 2
                  Train = split (List.replicate 18 1.0f @ [ -1.0f; -1.0f ]); Valid = split (List.replicate 10 1.0f); Test = split [ 1.0f; -1.0f ] }
            let expected = 1.0 / log (28.0 / 2.0)
            let cfg = Calibration.defaultConfig
            Expect.equal cfg.Rows Calibration.TrainingAndValidation "the default protocol"
            let m = Metrics.compute cfg layout (Calibration.rowsOf cfg data) data.Test theta
            // Golden section on log s ends within ~1e-12 of the minimizer; T is float32 (~6e-8 relative).
            Expect.floatClose { absolute = 0.0; relative = 1e-6 } (m.Temperatures.Temperature[0L].ToDouble()) expected "T = 1 / log 14"
            Expect.floatClose { absolute = 0.0; relative = 1e-6 } (m.Temperatures.Temperature[1L].ToDouble()) (2.0 * expected) "logits x 2: T x 2"
            Expect.isFalse (m.Temperatures.AtBound.any().ToBoolean()) "an interior optimum"
            // The evaluation applies its config's protocol: the same T there, and the validation-only one at its bound.
            let row cfg = Evaluation.evaluate (Evaluation.prepare { Evaluation.defaultConfig with Calibration = cfg } layout data None) "n" (theta.narrow(0L, 0L, 1L))
            Expect.floatClose { absolute = 0.0; relative = 1e-6 } (row cfg).TemperatureMedian expected "evaluation: T = 1 / log 14"
            let valid = row { cfg with Rows = Calibration.ValidationOnly }
            Expect.equal valid.CalibrationAtBound 1 "validation only: perfect, at the bound"
            Expect.isLessThan valid.TemperatureMedian 0.1 "validation only: T -> 0"
        }

        testProp "fitting the networks in chunks gives the same temperatures" (fun (seed: int) ->
            let z, y = logitsAndLabels (int64 seed) 7L 30L 3L
            let whole = Calibration.fit Calibration.defaultConfig z y
            // 200 logits: chunks of two networks (90 logits each), the last one alone. Each network's fit is its own
            // float64 computation; only its batch neighbours differ, so the temperatures agree to float32 rounding.
            let chunked = Calibration.fitWithin 200L Calibration.defaultConfig z y
            Expect.allClose 1e-6 chunked.Temperature whole.Temperature "temperatures"
            Expect.isTrue (chunked.AtBound.eq(whole.AtBound).all().ToBoolean()) "at bound")

        test "a network perfect on the calibration rows stops at the bound and says so" {
            let z = torch.tensor([| 2.0; -1.0; -3.0; 1.0 |], dtype = torch.float64).view(1L, 2L, 2L)
            let y = torch.tensor([| 0L; 1L |])
            let t = Calibration.fit Calibration.defaultConfig z y
            Expect.isTrue (t.AtBound[0L].ToBoolean()) "at bound"
            Expect.isTrue (t.Temperature[0L].ToDouble() < 0.1) "T -> 0"
        }
    ]
    // Sequenced: run apart from the parallel property tests, to add no garbage-collection pressure while they run (a
    // GC during a native call can finalize a temporary TorchSharp Scalar still in use there; see the Ode report).
    |> testSequenced
