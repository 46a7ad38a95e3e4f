module WeightFlow.Tests.TestPna

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators
open WeightFlow.Tests.TestRelationalTransformer

let private pnaModel seed (c: Pna.Config) (l: Layout) =
    use gen = Scope.Rng.create seed
    Pna.init gen torch.CPU c l

let private small time = { Pna.Config.defaults 8 3 with Time = time }

[<Tests>]
let tests =
    testList "Pna" [
        testProp "PNA is permutation equivariant" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            let m = pnaModel (int64 seed) (small (GraphEncoding.Fourier 4)) l
            equivariant (Pna.apply m) widths seed)

        testProp "PNA batched output equals per-sample output" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            let m = pnaModel (int64 seed) (small GraphEncoding.Channel) l
            batchedEqualsPerSample (Pna.apply m) widths seed)

        test "PNA gradients are finite" {
            let l = Layout.parse "3-5-4-2"
            for time in [ GraphEncoding.Fourier 4; GraphEncoding.Channel ] do
                let m = pnaModel 1L (small time) l
                gradientsFinite (Pna.parameters m) (Pna.apply m) [ 3; 5; 4; 2 ]
        }

        test "PNA built for 784-10-10 runs on 784-32-10 with the same parameters" {
            let m = pnaModel 2L (Pna.Config.defaults 8 2) (Layout.parse "784-10-10")
            runsOn (Pna.apply m) "784-32-10"
        }

        test "PNA parameter names are unique and the count is the sum of the parts" {
            let m = pnaModel 0L (Pna.Config.anchor 32 5) (Layout.parse "784-10-10")
            let ps = Pna.parameters m
            Expect.equal (ps |> List.map fst |> List.distinct |> List.length) ps.Length "unique names"
            // width F = 33: per conv FiLM 33·66+66, pre 66·33+33, post 297·33+33, lin 33·33+33 = 16,467;
            // 4 norms of 66; 4 edge updates of 4·(33·33+33) = 4,488; encoder 2·(64+2·1056+1056) - adjusted below.
            let conv = 33 * 66 + 66 + 66 * 33 + 33 + 297 * 33 + 33 + 33 * 33 + 33
            let edge = 4 * (33 * 33 + 33)
            let encoder = 2 * ((1 * 32 + 32) + 2 * (32 * 32 + 32) + (32 * 32 + 32)) + 795 * 32
            let head = 33 * 33 + 33 + 33 * 33 + 33 + 33 + 1
            Expect.equal (Params.count ps) (int64 (5 * conv + 4 * 66 + 4 * edge + encoder + 2 * head)) "count"
        }
    ]
