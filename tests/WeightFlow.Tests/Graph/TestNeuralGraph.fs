module WeightFlow.Tests.TestNeuralGraph

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// A permutation of every hidden layer's neurons as an index into the flat vector: theta[:, perm] is the permuted
/// network (new neuron i of hidden layer k is old neuron π_k(i)), and so is out[:, perm] for any per-weight output.
let hiddenPermutation (gen: torch.Generator) (layout: Layout) : int[] * int[][] =
    let w = layout.Widths
    let depth = Layout.depth layout
    let perms =
        Array.init (depth + 1) (fun k ->
            if k = 0 || k = depth then Array.init w[k] id
            else (use p = torch.randperm(int64 w[k], generator = gen) in T.toArray64 p |> Array.map int))
    let index =
        [| for l in 0 .. depth - 1 do
             let fin, fout = w[l], w[l + 1]
             for a in 0 .. fin - 1 do
                 for b in 0 .. fout - 1 do
                     yield Layout.weightOffset layout l + perms[l][a] * fout + perms[l + 1][b]
           for l in 0 .. depth - 1 do
             for b in 0 .. w[l + 1] - 1 do
                 yield Layout.biasOffset layout l + perms[l + 1][b] |]
    index, perms

[<Tests>]
let tests =
    testList "NeuralGraph" [
        testProp "flat -> (edge values, node values) -> flat is exact" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create (int64 seed)
            use theta = torch.randn([| 3L; int64 (Layout.paramCount l) |], generator = gen)
            use e = NeuralGraph.edgeValues g theta
            use n = NeuralGraph.nodeValues g theta
            use back = NeuralGraph.toFlat g e n
            use inputs = n.narrow(1L, 0L, int64 widths[0])
            // data movement only: bit-exact, and input nodes carry 0 (anchors §2)
            T.equal back theta && T.maxAbsDiff inputs (torch.zeros_like inputs) = 0.0)

        testProp "edge (src, dst) holds the weight from neuron src to neuron dst (PyTorch W[out, in])" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create (int64 seed)
            use theta = torch.randn([| 1L; int64 (Layout.paramCount l) |], generator = gen)
            let src, dst = T.toArray64 g.Src |> Array.map int, T.toArray64 g.Dst |> Array.map int
            let values = T.toArray (NeuralGraph.edgeValues g theta)
            let layers = Layout.unflatten l theta |> List.map (fun p -> T.toArray (p.W[0L]), int p.W.shape[2]) |> Array.ofList
            let layerOf = T.toArray64 g.LayerIds |> Array.map int
            Array.forall id [|
                for k in 0 .. g.EdgeCount - 1 ->
                    let lay = layerOf[src[k]]
                    let a, b = src[k] - g.NodeOffsets[lay], dst[k] - g.NodeOffsets[lay + 1]
                    let wArr, fin = layers[lay]
                    layerOf[dst[k]] = lay + 1 && values[k] = wArr[b * fin + a] |])

        test "sizes and positional ids of the MNIST graphs (anchors §2-3: N = 804, 795 positions)" {
            use g = NeuralGraph.create torch.CPU (Layout.parse "784-10-10")
            Expect.equal (g.NodeCount, g.EdgeCount, g.PositionCount) (804, 7940, 795) "784-10-10"
            let pos = T.toArray64 g.PositionIds |> Array.map int
            Expect.equal pos[0..783] [| 0 .. 783 |] "each input its own id"
            Expect.equal (Array.distinct pos[784..793]) [| 784 |] "the hidden layer shares one id"
            Expect.equal pos[794..803] [| 785 .. 794 |] "each output its own id"
            use wide = NeuralGraph.create torch.CPU (Layout.parse "784-32-10")
            Expect.equal wide.PositionCount 795 "a wider hidden layer has the same positions"
        }

        testProp "neighbourhood mask: i sees j iff i -> j, j -> i or i = j" (fun (SmallLayout widths) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use m = NeuralGraph.neighbourhoodMask g
            let layerOf = T.toArray64 g.LayerIds |> Array.map int
            let mask = (use f = m.to_type(torch.float32) in T.toArray f)
            let n = g.NodeCount
            Array.forall id [| for i in 0 .. n - 1 do
                                 for j in 0 .. n - 1 ->
                                     let expected = i = j || abs (layerOf[i] - layerOf[j]) = 1
                                     (mask[i * n + j] = 1.0f) = expected |])

        testProp "hidden permutation of the flat vector leaves the MLP function unchanged (test helper)" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            use gen = Scope.Rng.create (int64 seed)
            use theta = torch.randn([| 2L; int64 (Layout.paramCount l) |], generator = gen, dtype = torch.float64)
            use x = torch.randn([| 5L; int64 widths[0] |], generator = gen, dtype = torch.float64)
            let perm, _ = hiddenPermutation gen l
            use idx = T.ofIndex torch.CPU perm
            use permuted = theta.index_select(1L, idx)
            use a = Mlp.forward l theta x
            use b = Mlp.forward l permuted x
            T.maxAbsDiff a b < Tolerance.float64Law)
    ]
