module WeightFlow.Tests.TestVelocityModel

open System.IO
open Expecto
open TorchSharp
open WeightFlow

/// The three kinds at small sizes: every test below runs them through the same code path.
let configs : VelocityConfig list =
    [ VelocityConfig.defaults VelocityKind.Rt 8 2
      VelocityConfig.defaults VelocityKind.Pna 8 2
      VelocityConfig.defaults VelocityKind.Mlp 32 2 ]

let private build (c: VelocityConfig) (l: Layout) =
    use gen = Scope.Rng.create 5L
    VelocityModel.init gen torch.CPU c l

let private inputs (l: Layout) (b: int) =
    use gen = Scope.Rng.create 11L
    torch.rand([| int64 b |], generator = gen), torch.randn([| int64 b; int64 (Layout.paramCount l) |], generator = gen)

[<Tests>]
let tests =
    testList "VelocityModel" [
        test "RT, PNA and MLP map t [B], x_t [B, P] to finite [B, P] through one contract" {
            let l = Layout.parse "3-5-4-2"
            let t, x = inputs l 3
            for c in configs do
                let m = build c l
                use y = VelocityModel.apply m t x
                Expect.equal (T.shape y) [| 3; Layout.paramCount l |] $"{VelocityModel.kindName c} output shape"
                Expect.isTrue (torch.isfinite(y).all().ToBoolean()) $"{VelocityModel.kindName c} output finite"
                Expect.isGreaterThan (VelocityModel.parameterCount m) 0L "has parameters"
        }

        test "save then load rebuilds each kind with bit-identical outputs" {
            let l = Layout.parse "3-5-4-2"
            let t, x = inputs l 2
            for c in configs do
                let m = build c l
                let path = Path.Combine(Path.GetTempPath(), $"wf-velocity-{VelocityModel.kindName c}-{System.Guid.NewGuid():N}.safetensors")
                try
                    VelocityModel.save path m
                    let loaded = VelocityModel.load torch.CPU path
                    Expect.equal (VelocityModel.kindName loaded.Config) (VelocityModel.kindName c) "kind from the header"
                    Expect.bitExact (VelocityModel.apply loaded t x) (VelocityModel.apply m t x) $"{VelocityModel.kindName c} after load"
                finally File.Delete path
        }

        test "RT and PNA run on a wider layout of the same depth; the MLP says it cannot" {
            let l = Layout.parse "3-5-4-2"
            let wide = Layout.parse "3-9-7-2"
            let t, x = inputs wide 2
            for c in configs do
                let m = build c l
                match c with
                | VelocityConfig.Mlp _ ->
                    Expect.throwsT<System.ArgumentException> (fun () -> m.On wide t x |> ignore) "MLP on another layout"
                | _ ->
                    use y = m.On wide t x
                    Expect.equal (T.shape y) [| 2; Layout.paramCount wide |] "wider output"
        }
    ]
