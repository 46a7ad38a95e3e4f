module WeightFlow.Tests.Eval.TestTemperatureSelection

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

let private networks (seed: int64) (b: int) =
    use g = Scope.Rng.create seed
    Mlp.init g torch.CPU layout b 1.0

let private candidate tau v d : TemperatureSelection.Candidate =
    { Temperature = tau; Score = { ValidationCrossEntropy = v; Diversity = d } }

[<Tests>]
let tests =
    testList "TemperatureSelection" [
        test "the pre-stated rule is the one docs/uci/tau-selection.md states" {
            let r = TemperatureSelection.preStated
            Expect.equal r.Grid [ 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ] "the grid"
            Expect.equal r.DiversityFloor 0.5 "the floor: 0.5x the held-out checkpoints' diversity"
            Expect.equal r.Count 128 "networks per candidate"
        }

        test "choose: the smallest validation CE among the candidates at or above the diversity floor" {
            let r = TemperatureSelection.preStated
            // the narrowest draw has the best CE but is below the floor (0.4 < 0.5 x 1.0): excluded
            let cs = [ candidate 0.6 0.010 0.4; candidate 0.8 0.020 0.5; candidate 1.0 0.030 0.9 ]
            Expect.equal (TemperatureSelection.choose r 1.0 cs) (TemperatureSelection.BestAboveFloor 0.8) "0.8: at the floor counts"
            // without a floor (0) the narrowest wins
            Expect.equal (TemperatureSelection.choose { r with DiversityFloor = 0.0 } 1.0 cs) (TemperatureSelection.BestAboveFloor 0.6) "no floor"
            // the floor scales with the reference: with reference 0.5 the 0.6 candidate (0.4 >= 0.25) is eligible
            Expect.equal (TemperatureSelection.choose r 0.5 cs) (TemperatureSelection.BestAboveFloor 0.6) "relative to the reference"
            // exact ties go to the τ closer to 1
            let tied = [ candidate 0.7 0.02 1.0; candidate 1.1 0.02 1.0; candidate 0.9 0.03 1.0 ]
            Expect.equal (TemperatureSelection.choose r 1.0 tied) (TemperatureSelection.BestAboveFloor 1.1) "tie: closer to 1"
            // a non-finite CE is never chosen
            let nan = [ candidate 0.8 nan 1.0; candidate 1.0 0.05 1.0 ]
            Expect.equal (TemperatureSelection.choose r 1.0 nan) (TemperatureSelection.BestAboveFloor 1.0) "NaN CE skipped"
        }

        test "choose: none at the floor takes the most diverse; bad input refused" {
            let r = TemperatureSelection.preStated
            let cs = [ candidate 0.6 0.01 0.1; candidate 1.0 0.05 0.3; candidate 1.2 0.09 0.2 ]
            let c = TemperatureSelection.choose r 1.0 cs
            Expect.equal c (TemperatureSelection.NoneAboveFloor 1.0) "the most diverse"
            Expect.equal (TemperatureSelection.temperature c) 1.0 "its τ"
            Expect.throwsT<System.ArgumentException> (fun () -> TemperatureSelection.choose r 1.0 [] |> ignore) "no candidate"
            Expect.throwsT<System.ArgumentException> (fun () -> TemperatureSelection.choose r 0.0 cs |> ignore) "a zero reference"
            Expect.throwsT<System.ArgumentException> (fun () -> TemperatureSelection.choose r nan cs |> ignore) "a NaN reference"
        }

        test "score: T fitted on the training split alone, CE and diversity on the validation split, the test split never read" {
            let d = data ()
            let theta = networks 3L 6
            let cal = Calibration.defaultConfig
            let s = TemperatureSelection.score cal layout d theta
            // the same computation by hand: T per network on the training rows, validation CE of softmax(z / T)
            let t = (Calibration.fit cal (Predictive.logits layout d.Train.X theta) d.Train.Y).Temperature
            let zv = Predictive.scale t (Predictive.logits layout d.Valid.X theta)
            let v = (Mlp.crossEntropyOfLogits zv d.Valid.Y).to_type(torch.float64).mean().ToDouble()
            // identical operations; 1e-12 relative leaves room only for a different summation order
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } s.ValidationCrossEntropy v "validation CE, T from the training split"
            Expect.floatClose { absolute = 0.0; relative = 1e-12 } s.Diversity (Diversity.ofLogits zv).Value "diversity of the calibrated validation predictions"
            // T fitted on training + validation (the judged protocol) gives another value: the hand computation above
            // tells the two apart
            let tv = Calibration.rowsOf cal d
            let t2 = (Calibration.fit cal (Predictive.logits layout tv.X theta) tv.Y).Temperature
            let v2 = (Mlp.crossEntropyOfLogits (Predictive.scale t2 (Predictive.logits layout d.Valid.X theta)) d.Valid.Y).to_type(torch.float64).mean().ToDouble()
            Expect.isGreaterThan (abs (v2 - s.ValidationCrossEntropy)) 1e-9 "training-only calibration differs from training + validation"
            // the test split replaced by other rows (another size, other labels): the score is bit for bit the same
            let junk = { X = torch.randn([| 7L; 4L |]); Y = torch.zeros([| 7L |], dtype = torch.int64) }
            Expect.equal (TemperatureSelection.score cal layout { d with Test = junk } theta) s "the test split is not read"
            // the validation labels flipped: the score changes
            let flipped = { d with Valid = { d.Valid with Y = torch.ones_like(d.Valid.Y) - d.Valid.Y } }
            Expect.isGreaterThan (abs ((TemperatureSelection.score cal layout flipped theta).ValidationCrossEntropy - s.ValidationCrossEntropy)) 1e-3 "scored on the validation split"
            Expect.throwsT<System.ArgumentException> (fun () -> TemperatureSelection.score cal layout d (networks 4L 1) |> ignore) "one network: no diversity"
        }
    ]
