module WeightFlow.Tests.Eval.TestBma

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

[<Tests>]
let tests =
    testList "Bma" [
        test "k runs over powers of two and ends at kMax" {
            Expect.equal (Bma.ks 16) [ 1; 2; 4; 8; 16 ] "16"
            Expect.equal (Bma.ks 5) [ 1; 2; 4; 5 ] "5"
            Expect.equal (Bma.ks 1) [ 1 ] "1"
        }

        testProp "BMA of identical networks equals the single network (both averagings)" (fun (seed: int) ->
            use g = Scope.Rng.create (int64 seed)
            let one = torch.randn([| 1L; 25L; 3L |], generator = g, dtype = torch.float64)
            let y = torch.randint(3L, [| 25L |], generator = g)
            let many = one.expand(6L, -1L, -1L).contiguous()
            let single = Bma.point Bma.defaultConfig 1 one y
            for averaging in [ Bma.Probabilities; Bma.Logits ] do
                for p in Bma.curve { Bma.defaultConfig with Averaging = averaging } 6 many y do
                    Expect.floatClose Accuracy.veryHigh p.Accuracy single.Accuracy $"accuracy at k = {p.K}"
                    // log-sum-exp of k equal terms minus log k: exact up to float64 rounding.
                    Expect.floatClose { absolute = 1e-12; relative = 1e-12 } p.Nll single.Nll $"NLL at k = {p.K}")

        testProp "averaging probabilities never has a higher NLL than the members' mean NLL (Jensen)" (fun (seed: int) ->
            use g = Scope.Rng.create (int64 seed)
            let z = torch.randn([| 5L; 20L; 4L |], generator = g, dtype = torch.float64) * 3.0
            let y = torch.randint(4L, [| 20L |], generator = g)
            let all = Bma.point Bma.defaultConfig 5 z y
            let members = Mlp.crossEntropyOfLogits z y
            Expect.isLessThanOrEqual all.Nll (members.mean().ToDouble() + 1e-12) "mixture NLL <= mean NLL")

        test "logit averaging differs from probability averaging where the members disagree" {
            // Two networks, one input, two classes: confident-wrong and mildly-right.
            let z = torch.tensor([| 4.0; 0.0; -1.0; 0.0 |], dtype = torch.float64).view(2L, 1L, 2L)
            let y = torch.tensor([| 1L |])
            let p = Bma.point Bma.defaultConfig 2 z y
            let l = Bma.point { Bma.defaultConfig with Averaging = Bma.Logits } 2 z y
            let pMix = (1.0 / (1.0 + exp 4.0) + exp 0.0 / (exp -1.0 + 1.0)) / 2.0
            Expect.floatClose Accuracy.veryHigh p.Nll (-(log pMix)) "mixture NLL"
            Expect.floatClose Accuracy.veryHigh l.Nll (-(log (1.0 / (1.0 + exp 1.5)))) "product-of-experts NLL"
        }
    ]
