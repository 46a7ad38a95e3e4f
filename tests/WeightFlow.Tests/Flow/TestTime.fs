module WeightFlow.Tests.TestTime

open Expecto
open TorchSharp
open WeightFlow

[<Tests>]
let tests =
    testList "Time" [
        test "Beta(1, 2) and uniform times have their means and stay in [0, 1]; a seed fixes them" {
            // 20,000 draws: standard error of the mean ≤ 0.29/√20000 ≈ 0.002; tolerance 5 standard errors
            for d, mean in [ TimeDistribution.defaults, 1.0 / 3.0; Uniform, 0.5; Beta(2.0, 1.0), 2.0 / 3.0 ] do
                use g = Scope.Rng.create 1L
                let t = TimeDistribution.sample d g torch.CPU 20000
                Expect.floatClose { absolute = 0.01; relative = 0.0 } (t.mean().ToDouble()) mean $"{TimeDistribution.text d} mean"
                Expect.isTrue (t.ge(scalar 0.0).all().ToBoolean() && t.le(scalar 1.0).all().ToBoolean()) "in [0, 1]"
                use g2 = Scope.Rng.create 1L
                Expect.bitExact (TimeDistribution.sample d g2 torch.CPU 20000) t "same seed, same times"
        }

        test "Beta without a closed-form sampler is refused with the fix" {
            let e = Expect.throwsC (fun () -> TimeDistribution.validate (Beta(2.0, 3.0))) id
            Expect.stringContains e.Message "a = 1 or b = 1" "says what is supported"
        }
    ]
