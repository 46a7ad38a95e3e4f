module WeightFlow.Tests.TestMlp

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// Oracle: one network at a time with torch.nn.functional.linear (PyTorch orientation W [out, in]).
let perNetworkForward (layout: Layout) (theta: torch.Tensor) (x: torch.Tensor) =
    let b = int theta.shape[0]
    [ for i in 0 .. b - 1 ->
        let layers = Layout.unflatten layout (theta.narrow(0L, int64 i, 1L))
        let mutable h = x
        layers |> List.iteri (fun j p ->
            let z = torch.nn.functional.linear(h, p.W[0L], p.B[0L])
            h <- if j < layers.Length - 1 then torch.nn.functional.relu z else z)
        h ]
    |> List.toArray
    |> torch.stack

[<Tests>]
let tests =
    testList "Mlp" [
        testProp "batched forward equals a per-network forward" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            use g = Scope.Rng.create (int64 seed)
            use theta = torch.randn([| 3L; int64 (Layout.paramCount l) |], generator = g, dtype = torch.float64)
            use x = torch.randn([| 7L; int64 widths[0] |], generator = g, dtype = torch.float64)
            use a = Mlp.forward l theta x
            use e = perNetworkForward l theta x
            T.maxAbsDiff a e < Tolerance.float64Law)
        test "cross-entropy and accuracy match hand computation" {
            let l = Layout.parse "1-2"
            // logits = [w0 x + b0, w1 x + b1] with w = [1, -1], b = [0, 0]
            use theta = torch.tensor([| 1.0f; -1.0f; 0.0f; 0.0f |]).unsqueeze(0L)
            use x = torch.tensor([| 1.0f; -2.0f |]).unsqueeze(1L)
            use y = torch.tensor([| 0L; 0L |])
            let ce = (Mlp.crossEntropy l theta x y).ToDouble()
            // sample 1: logits (1, -1): -log softmax_0 = log(1 + e^-2); sample 2: logits (-2, 2): log(1 + e^4)
            let expected = (log (1.0 + exp -2.0) + log (1.0 + exp 4.0)) / 2.0
            Expect.floatClose Accuracy.medium ce expected "mean CE"
            Expect.equal ((Mlp.accuracy l theta x y).ToDouble()) 0.5 "one of two right"
        }
        test "init: weights ~ N(0, std^2), zero biases, deterministic in the seed" {
            let l = Layout.parse "30-16-16-2"
            use g1 = Scope.Rng.create 7L
            use g2 = Scope.Rng.create 7L
            use a = Mlp.init g1 torch.CPU l 100 0.1
            use b = Mlp.init g2 torch.CPU l 100 0.1
            Expect.isTrue (T.equal a b) "same seed, same weights"
            let w = a.narrow(1L, 0L, int64 (Layout.weightCount l))
            // 76,800 draws: the sample std has relative standard error 1/sqrt(2n) ≈ 0.0026; 4 s.e. ≈ 0.001.
            Expect.floatClose { absolute = 0.0011; relative = 0.0 } (w.std().ToDouble()) 0.1 "std 0.1"
            Expect.equal (a.narrow(1L, int64 (Layout.weightCount l), 34L).abs().sum().ToDouble()) 0.0 "zero biases"
        }
    ]
