module WeightFlow.Tests.Eval.TestDiversity

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

let private logits (seed: int64) = 
    use g = Scope.Rng.create seed
    torch.randn([| 1L; 30L; 3L |], generator = g, dtype = torch.float64) * 2.0

[<Tests>]
let tests =
    testList "Diversity" [
        testProp "identical networks have diversity 0" (fun (seed: int) ->
            let z = (logits (int64 seed)).expand(4L, -1L, -1L)
            // JSD(p, p) = (H(p) + H(p))/2 - H(p): exact in float64 since (p + p)/2 = p.
            Expect.floatClose { absolute = 1e-15; relative = 0.0 } (Diversity.ofLogits z).Value 0.0 "zero")

        testProp "the pairwise matrix is symmetric with a zero diagonal and bounded by log 2" (fun (seed: int) ->
            use g = Scope.Rng.create (int64 seed)
            let z = torch.randn([| 5L; 30L; 3L |], generator = g, dtype = torch.float64) * 3.0
            let m = Diversity.pairwise (Predictive.probabilities z)
            Expect.allClose 1e-7 m (m.t()) "symmetric (float32 result)"
            Expect.allClose 1e-7 (m.diagonal()) (torch.zeros(5L)) "zero diagonal"
            Expect.isTrue (m.le(scalar (log 2.0 + 1e-6)).all().ToBoolean()) "JSD <= log 2")

        test "opposite certain predictions have JSD log 2" {
            let p = torch.tensor([| 1.0; 0.0; 0.0; 1.0 |], dtype = torch.float64).view(2L, 1L, 2L)
            Expect.floatClose Accuracy.high (Diversity.ofProbabilities p).Value (log 2.0) "log 2"
        }

        testProp "diversity grows with the size of a perturbation" (fun (seed: int) ->
            use g = Scope.Rng.create (int64 seed)
            let z = logits (int64 seed)
            let noise = torch.randn([| 6L; 30L; 3L |], generator = g, dtype = torch.float64)
            let d = [ for eps in [ 0.01; 0.1; 1.0 ] -> (Diversity.ofLogits (z + noise * eps)).Value ]
            Expect.isGreaterThan d[0] 0.0 "a perturbation is diverse"
            Expect.isGreaterThan d[1] d[0] "0.1 > 0.01"
            Expect.isGreaterThan d[2] d[1] "1 > 0.1")

        test "one network has no diversity to report" {
            Expect.isNone (Diversity.ofLogits (logits 0L)) "None"
        }
    ]
