module WeightFlow.Tests.TestLayout

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests.Generators

[<Tests>]
let tests =
    testList "Layout" [
        test "parameter counts of the thesis' networks" {
            Expect.equal (Layout.paramCount (Layout.parse "30-16-16-2")) 802 "UCI MLP"
            Expect.equal (Layout.paramCount (Layout.parse "784-10-10")) 7960 "MNIST MLP"
        }
        test "flat order: weight a->b of layer l at weightOffset + a*out + b, then biases" {
            let l = Layout.parse "3-2-2"
            use theta = torch.arange(int64 (Layout.paramCount l), dtype = torch.float32).unsqueeze(0L)
            let layers = Layout.unflatten l theta
            // W0 is [out=2, in=3]; W0[b, a] = a*2 + b
            Expect.equal (layers[0].W[0L, 1L, 2L].ToSingle()) 5.0f "W0[out 1, in 2] = 2*2+1"
            Expect.equal (layers[1].B[0L, 0L].ToSingle()) (float32 (6 + 4 + 2)) "second bias after 10 weights and 2 biases"
        }
        testProp "flatten (unflatten theta) = theta exactly" (fun (SmallLayout widths) (seed: int) (b: byte) ->
            let l = Layout.create widths
            let bsz = 1 + int b % 4
            use g = Scope.Rng.create (int64 seed)
            use theta = torch.randn([| int64 bsz; int64 (Layout.paramCount l) |], generator = g)
            use back = Layout.flatten l (Layout.unflatten l theta)
            T.equal theta back)
        test "bad layouts and wrong widths give clear errors" {
            Expect.throwsT<System.ArgumentException> (fun () -> Layout.parse "30" |> ignore) "one width"
            Expect.throwsT<System.ArgumentException> (fun () -> Layout.parse "30-a-2" |> ignore) "not a number"
            // a typo is refused, not read as another layout (was: "30-x-2" read as 30-2, "30-16-2-" as 30-16-2)
            for typo in [ "30-x-2"; "30-16-2-"; "-30-2"; "30--2"; "30 16 2" ] do
                Expect.throwsT<System.ArgumentException> (fun () -> Layout.parse typo |> ignore) typo
            for text in [ "30-16-2"; "30x16x2"; "30, 16, 2"; " 30-16-2 " ] do
                Expect.equal (Layout.parse text).Widths [| 30; 16; 2 |] text
            use theta = torch.zeros(2L, 10L)
            let e = Expect.throwsC (fun () -> Layout.weightT (Layout.parse "30-16-16-2") 0 theta |> ignore) id
            Expect.stringContains e.Message "802" "names the expected size"
        }
    ]
