module WeightFlow.Tests.TestSpace

open Expecto
open TorchSharp
open WeightFlow

[<Tests>]
let tests =
    testList "Space" [
        test "prior samples lie in each flow's space: canonical (on the product of spheres) for Normalized and Geometric" {
            let l = Layout.parse "5-6-4-3"
            for kind in [ FlowKind.Euclidean; FlowKind.Normalized; FlowKind.Geometric ] do
                let space = FlowSpace.create kind 1e-4 l
                use g = Scope.Rng.create 6L
                let x0 = Prior.sample Prior.defaults space g torch.CPU 8
                let onSpheres = (Manifold.violation (WeightSpace.ofLayout l) x0).max().ToDouble()
                match kind with
                | FlowKind.Euclidean ->
                    // raw N(0, 0.1²): hidden neurons' incoming norms ≈ 0.1·√5, far from 1
                    Expect.isGreaterThan onSpheres 0.1 "raw prior is not canonical"
                | _ ->
                    // canonicalization in float32: unit norms to ~1e-6
                    Expect.isLessThan onSpheres 1e-5 $"{kind}: canonical prior on the spheres"
                    // canonical biases are b/s and grow large where s is small: a few float32 roundings relative to the
                    // largest entry
                    let scale = max 1.0 (x0.abs().max().ToDouble())
                    Expect.allClose (1e-6 * scale) (FlowSpace.project space x0) x0 "projection fixes canonical points"
        }

        test "a flow's space moves to a wider layout of the same depth, and refuses another depth" {
            let space = FlowSpace.create FlowKind.Geometric 0.0 (Layout.parse "5-6-4-3")
            let wide = FlowSpace.forLayout (Layout.parse "5-12-8-3") space
            Expect.equal wide.Manifold.Dim (Layout.paramCount (Layout.parse "5-12-8-3")) "manifold of the wider layout"
            Expect.throwsT<System.ArgumentException> (fun () -> FlowSpace.forLayout (Layout.parse "5-6-3") space |> ignore) "depth differs"
        }
    ]
