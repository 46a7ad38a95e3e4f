module WeightFlow.Tests.TestNeuronRowLinear

open System
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators
open WeightFlow.Tests.TestRelationalTransformer

module RT = RelationalTransformer

let private rowConfig n = { smallConfig n (GraphEncoding.Fourier 4) with NeuronRows = RT.SharedLowRank 3 }

/// A seeded model whose row maps U (zero at initialisation, so the term would vanish) are drawn ~ N(0, 1/r): the
/// term is then O(1) and every property below can fail.
let private rowModel (seed: int64) (c: RT.Config) (l: Layout) =
    use gen = Scope.Rng.create seed
    let m = RT.init gen torch.CPU c l
    use _ = torch.no_grad ()
    for name, p in RT.parameters m do
        if name.StartsWith "row_term." && name.EndsWith ".u" then
            use r = torch.randn(p.shape, generator = gen)
            p.copy_(r / sqrt (float p.shape[0])) |> ignore
    m

[<Tests>]
let tests =
    testList "NeuronRowLinear" [
        testProp "RT with the neuron-row term is permutation equivariant (sparse and dense)" (fun (SmallLayout widths) (seed: int) (dense: bool) ->
            let m = rowModel (int64 seed) (rowConfig (if dense then RT.Dense else RT.Sparse)) (Layout.create widths)
            equivariant (RT.apply m) widths seed)

        test "the term alone is permutation equivariant on 784-10-10 and 30-16-16-2" {
            for text in [ "784-10-10"; "30-16-16-2" ] do
                let l = Layout.parse text
                use gen = Scope.Rng.create 31L
                let term = NeuronRowLinear.init gen torch.CPU 8 l
                use _ = torch.no_grad ()
                for _, p in NeuronRowLinear.parameters term do
                    use r = torch.randn(p.shape, generator = gen)
                    p.copy_(r / sqrt (float p.shape[0])) |> ignore
                // the same check as the RT's (TestRelationalTransformer.equivariant): only hidden neurons move; the
                // term's sums run over fixed indices (unchanged order) or are means over ≤ 16 permuted values
                let f (g: NeuralGraph) t theta = NeuronRowLinear.apply term g.Layout t theta
                equivariant f (List.ofArray l.Widths) 32 |> ignore
                Params.dispose (NeuronRowLinear.parameters term)
        }

        test "known answer: with V = U = I and a unit gate the term copies each hidden neuron's row back (fixed parts) and its means (hidden-hidden edges)" {
            // 3-2-2-2: hidden layer 1 reads [3 incoming from the input; bias; mean of 2 outgoing] (F = 5), hidden layer
            // 2 [mean of 2 incoming; bias; 2 outgoing to the output] (F = 4); rank 5.
            let l = Layout.parse "3-2-2-2"
            use gen = Scope.Rng.create 41L
            let term = NeuronRowLinear.init gen torch.CPU 5 l
            Expect.equal [ for m in term.Layers -> int m.V.shape[0] ] [ 5; 4 ] "row widths F_1, F_2"
            use _ = torch.no_grad ()
            for m in term.Layers do
                use e = torch.eye(5L).narrow(0L, 0L, m.V.shape[0]).contiguous()
                m.V.copy_(e) |> ignore
                m.U.copy_(e.t()) |> ignore
            let lastLinear = List.last term.Gate.Linears
            lastLinear.Weight.zero_() |> ignore
            lastLinear.Bias.Value.fill_(1.0) |> ignore
            use theta = torch.randn([| 2L; int64 (Layout.paramCount l) |], generator = gen)
            use t = torch.rand([| 2L |], generator = gen)
            use out = NeuronRowLinear.apply term l t theta
            use w0 = Layout.weightT l 0 theta
            use w1 = Layout.weightT l 1 theta // [B, 2 (layer 1), 2 (layer 2)]
            use w2 = Layout.weightT l 2 theta
            use b0 = Layout.bias l 0 theta
            use b1 = Layout.bias l 1 theta
            // hidden-hidden edge (j, k): neuron j's outgoing mean + neuron k's incoming mean
            use outMean = w1.mean([| 2L |], keepdim = true)
            use inMean = w1.mean([| 1L |], keepdim = true)
            use w1Expected = outMean + inMean
            use zeros = torch.zeros(2L, 2L)
            use expected =
                torch.cat([| w0.reshape(2L, -1L); w1Expected.reshape(2L, -1L); w2.reshape(2L, -1L); b0; b1; zeros |], 1L)
            // V = U = I with gate 1 is an exact copy; the means add one rounding of 2-term sums (float32): 1e-6
            Expect.allClose 1e-6 out expected "the row written back to its own coordinates"
            Params.dispose (NeuronRowLinear.parameters term)
        }

        test "off: no parameter and no header entry; on, a fresh model computes exactly the off model's function; random U changes it" {
            let l = Layout.parse "5-4-3-2"
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 13L
            let theta, t = inputs gen l 3
            use theta = theta
            use t = t
            for n in [ RT.Sparse; RT.Dense ] do
                let c = smallConfig n (GraphEncoding.Fourier 4)
                Expect.equal c.NeuronRows RT.NoRowTerm "the default is off"
                let off = rtModel 1L c l
                let on = rtModel 1L { c with NeuronRows = RT.SharedLowRank 4 } l
                let offNames = RT.parameters off |> List.map fst
                Expect.isFalse (offNames |> List.exists (fun x -> x.StartsWith "row_term")) "off adds no parameter"
                Expect.isFalse (VelocityModel.toMetadata (VelocityConfig.Rt c) l |> List.exists (fun (k, _) -> k = "model.neuron_rows")) "off adds no header entry"
                // the term's parameters are drawn last: every other parameter of the seeded model is the same
                let onByName = dict (RT.parameters on)
                for name, p in RT.parameters off do Expect.bitExact onByName[name] p $"{name} unchanged by the option"
                Expect.equal (RT.parameters on |> List.map fst |> List.filter (fun x -> not (List.contains x offNames)))
                    [ "row_term.0.v"; "row_term.0.u"; "row_term.1.v"; "row_term.1.u"; "row_term.gate.0.weight"; "row_term.gate.0.bias"; "row_term.gate.1.weight"; "row_term.gate.1.bias" ]
                    "V, U per hidden layer and the gate MLP"
                use _ = torch.no_grad ()
                use a = RT.apply off g t theta
                use b = RT.apply on g t theta
                // U = 0 at initialisation: x + 0 is x exactly
                Expect.bitExact b a $"{n}: a fresh model with the term is the model without it"
                let onRandom = rowModel 1L { c with NeuronRows = RT.SharedLowRank 4 } l
                use b2 = RT.apply onRandom g t theta
                use d = (b2 - a).abs().max()
                // U ~ N(0, 1/r) and V Xavier move each output by O(0.1-1): far above float32 rounding
                Expect.isGreaterThan (d.ToDouble()) 1e-3 $"{n}: the term changes the output"
        }

        test "the term is saved in the model file and read back; a bad entry is one clear error" {
            let l = Layout.parse "3-4-2"
            let config = VelocityConfig.Rt (rowConfig RT.Sparse)
            Expect.contains (VelocityModel.toMetadata config l) ("model.neuron_rows", "shared-low-rank:3") "the header names the term and its rank"
            use gen0 = Scope.Rng.create 3L
            let m = VelocityModel.init gen0 torch.CPU config l
            use _ = torch.no_grad ()
            for name, p in m.Parameters do
                if name.EndsWith ".u" then
                    use r = torch.randn(p.shape, generator = gen0)
                    p.copy_(r) |> ignore
            expectModelRoundTrip "rt-rows" "the term reads back" l m
            let meta = VelocityModel.toMetadata config l |> List.map (fun (k, v) -> k, (if k = "model.neuron_rows" then "shared-low-rank:0" else v)) |> Map.ofList
            let e = Expect.throwsC (fun () -> VelocityModel.ofMetadata (fun k -> meta[k]) meta.TryFind |> ignore) id
            Expect.stringContains e.Message "neuron-row term 'shared-low-rank:0'" "names the bad entry"
            Expect.throwsT<ArgumentException> (fun () -> RT.Config.validate { rowConfig RT.Sparse with NeuronRows = RT.SharedLowRank 0 }) "rank 0 refused"
        }

        test "with the term: gradients reach every parameter finite, the 784-10-10 model runs on 784-32-10, a deeper layout is refused" {
            let m = rowModel 1L (rowConfig RT.Sparse) (Layout.parse "3-5-4-2")
            gradientsFinite (RT.parameters m) (RT.apply m) [ 3; 5; 4; 2 ]
            for name, p in RT.parameters m do
                if name.StartsWith "row_term" then
                    use a = p.grad.abs().sum()
                    Expect.isGreaterThan (a.ToDouble()) 0.0 $"{name} gets a gradient"
            let c = { RT.Config.defaults 8 1 with NeuronRows = RT.SharedLowRank 4 }
            let narrow = rtModel 3L c (Layout.parse "784-10-10")
            let wide = rtModel 3L c (Layout.parse "784-32-10")
            Expect.equal (Params.count (RT.parameters narrow)) (Params.count (RT.parameters wide)) "same parameter count"
            runsOn (RT.apply narrow) "784-32-10"
            use gen = Scope.Rng.create 5L
            let term = NeuronRowLinear.init gen torch.CPU 4 (Layout.parse "784-10-10")
            let l = Layout.parse "784-10-10-10"
            use theta = torch.zeros(1L, int64 (Layout.paramCount l))
            use t = torch.zeros(1L)
            let e = Expect.throwsC (fun () -> NeuronRowLinear.apply term l t theta |> ignore) id
            Expect.stringContains e.Message "only hidden widths may change" "says what may change"
        }
    ]
