module WeightFlow.Tests.TestRelationalTransformer

open System
open System.IO
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

module RT = RelationalTransformer

/// A small model (width 8, 2 layers) keeps 100 generated cases well under a second each.
let smallConfig (n: RT.Neighbourhood) (time: GraphEncoding.TimeConditioning) : RT.Config =
    { RT.Config.defaults 8 2 with Neighbourhood = n; Time = time; Heads = 2; EdgeWidth = 6; NodeHidden = 12 }

let inputs (gen: torch.Generator) (l: Layout) (b: int) =
    let theta = torch.randn([| int64 b; int64 (Layout.paramCount l) |], generator = gen)
    let t = torch.rand([| int64 b |], generator = gen)
    theta, t

/// Saves `m` to a temporary model file and loads it back: its configuration reads back (`what`), and the loaded model
/// computes the same function bit for bit (same weights, same float32 kernels, same inputs).
let expectModelRoundTrip (name: string) (what: string) (l: Layout) (m: VelocityModel) =
    let path = TempFiles.safetensors name
    try
        VelocityModel.save path m
        let back = VelocityModel.load torch.CPU path
        Expect.equal back.Config m.Config what
        use gen = Scope.Rng.create 4L
        let theta, t = inputs gen l 2
        use theta = theta
        use t = t
        use _ = torch.no_grad ()
        use a = VelocityModel.apply m t theta
        use b = VelocityModel.apply back t theta
        Expect.bitExact b a "the loaded model computes the same function"
    finally
        File.Delete path

/// f(θ ∘ π) = f(θ) ∘ π for a random permutation π of every hidden layer.
let equivariant (f: NeuralGraph -> Tensor -> Tensor -> Tensor) (widths: int list) (seed: int) =
    let l = Layout.create widths
    use g = NeuralGraph.create torch.CPU l
    use gen = Scope.Rng.create (int64 seed)
    let theta, t = inputs gen l 2
    use theta = theta
    use t = t
    let perm, _ = TestNeuralGraph.hiddenPermutation gen l
    use idx = T.ofIndex torch.CPU perm
    use permuted = theta.index_select(1L, idx)
    use _ = torch.no_grad ()
    use out = f g t theta
    use outOfPermuted = f g t permuted
    use permutedOut = out.index_select(1L, idx)
    // float32, sums over at most ~40 reordered terms of O(1) values per layer: reordering error ≲ 40 · 6e-8 per
    // layer, far below the 1e-5 of the neural-graphs equivariance test (anchors §3.6).
    Expect.allClose 1e-5 outOfPermuted permutedOut $"equivariance on {l}"
    true

/// Batched output equals per-sample output.
let batchedEqualsPerSample (f: NeuralGraph -> Tensor -> Tensor -> Tensor) (widths: int list) (seed: int) =
    let l = Layout.create widths
    use g = NeuralGraph.create torch.CPU l
    use gen = Scope.Rng.create (int64 seed)
    let theta, t = inputs gen l 3
    use theta = theta
    use t = t
    use _ = torch.no_grad ()
    use batched = f g t theta
    use single = torch.cat([| for i in 0L .. 2L -> f g (t.narrow(0L, i, 1L)) (theta.narrow(0L, i, 1L)) |], 0L)
    // the same float32 operations on smaller batches; matmul blocking may differ: a few ulps of O(1) values.
    Expect.allClose 1e-5 batched single $"batched vs per-sample on {l}"
    true

/// Gradients of a loss with respect to every parameter are finite and not all zero.
let gradientsFinite (ps: Params.Named) (f: NeuralGraph -> Tensor -> Tensor -> Tensor) (widths: int list) =
    let l = Layout.create widths
    use g = NeuralGraph.create torch.CPU l
    use gen = Scope.Rng.create 5L
    let theta, t = inputs gen l 2
    use theta = theta
    use t = t
    use out = f g t theta
    use loss = out.square().mean()
    loss.backward()
    for name, p in ps do
        Expect.isNotNull p.grad $"{name} has a gradient"
        Check.finite name "" p.grad
    let total = ps |> List.sumBy (fun (_, p) -> (use a = p.grad.abs().sum() in a.ToDouble()))
    Expect.isGreaterThan total 0.0 "some gradient is non-zero"

let rtModel seed (c: RT.Config) (l: Layout) =
    use gen = Scope.Rng.create seed
    RT.init gen torch.CPU c l

/// Dense edge terms from sparse ones: row (i, j) holds the edge between i and j in either direction, the diagonal
/// holds no edge (0, and 1 for the value modulation), and every other pair holds random values the mask must hide.
let densify (gen: torch.Generator) (g: NeuralGraph) (sparse: Tensor) (diagonal: float) =
    let b, h, dh = sparse.shape[0], sparse.shape[2], sparse.shape[3]
    let n = int64 g.NodeCount
    use filler = torch.randn([| b; n * n; h; dh |], generator = gen, dtype = sparse.dtype)
    use pairs = NeuralGraph.pairIndex g
    use rev = g.Dst * n + g.Src
    use diagIdx = torch.arange(n) * (n + 1L)
    use diag = torch.full([| b; n; h; dh |], scalar diagonal, dtype = sparse.dtype)
    use a = filler.index_copy(1L, pairs, sparse)
    use c = a.index_copy(1L, rev, sparse)
    use d = c.index_copy(1L, diagIdx, diag)
    d.view(b, n, n, h, dh)

/// Runs `apply` (a model built for another hidden width) on one network of `layoutText` and checks it writes one
/// finite value per weight and bias.
let runsOn (apply: NeuralGraph -> Tensor -> Tensor -> Tensor) (layoutText: string) =
    let l = Layout.parse layoutText
    use g = NeuralGraph.create torch.CPU l
    use gen = Scope.Rng.create 4L
    let theta, t = inputs gen l 1
    use theta = theta
    use t = t
    use _ = torch.no_grad ()
    use out = apply g t theta
    Expect.equal (T.shape out) [| 1; Layout.paramCount l |] $"one output per weight and bias of {layoutText}"
    Check.finite "output" "" out


/// The Jacobian ∂out_i/∂θ_j [P, P] of a model t [B], θ [B, P] -> [B, P] at one θ [1, P], by one backward pass over a
/// batch of P copies of θ (rows are independent networks, so the gradient of Σ_i out[i, i] puts row i of the
/// Jacobian in copy i).
let jacobian (apply: Tensor -> Tensor -> Tensor) (t: Tensor) (theta: Tensor) : float[,] =
    let p = theta.shape[1]
    use _ = torch.enable_grad ()
    use x = theta.expand(p, -1L).contiguous().requires_grad_(true)
    use tt = t.expand(p)
    use out = apply tt x
    use eye = torch.eye(p, dtype = out.dtype)
    use diag = (out * eye).sum()
    let g = torch.autograd.grad([| diag |], [| x |])[0]
    use gd = g.to_type(torch.float64)
    let a = gd.data<float>().ToArray()
    g.Dispose()
    Array2D.init (int p) (int p) (fun i j -> a[i * int p + j])

/// Message passing on the 3-4-2 graph (issue 13: does an edge's output depend on *other* weights?). Flat indices
/// (Layout.fs: weight (a, b) of layer l at weightOffset l + a·out + b, then the biases): f = edge (in0, h0) = 0;
/// one hop from f (sharing a neuron): (in0, h1) = 1, (in1, h0) = 4, (h0, out0) = 12; two hops (no shared neuron):
/// (h1, out0) = 14, (in1, h1) = 5. Bias of h0 = 20; its neighbour out0's bias = 24, the edge (in1, h0) = 4; two hops:
/// the bias of h1 = 21.
module MessagePassing =
    let f, oneHop, twoHop = 0, [ 1; 4; 12 ], [ 14; 5 ]
    let bias, biasOneHop, biasTwoHop = 20, [ 24; 4 ], [ 21 ]
    /// RMS of the diagonal ∂out_i/∂θ_i, the scale every cross entry is compared with.
    let diagonalRms (j: float[,]) = sqrt ((Seq.init (Array2D.length1 j) (fun i -> j[i, i] ** 2.0) |> Seq.sum) / float (Array2D.length1 j))
    /// |∂out_e/∂θ_src| relative to the diagonal RMS, for each e.
    let relative (j: float[,]) (src: int) (es: int list) = es |> List.map (fun e -> e, abs j[e, src] / diagonalRms j)
    // A cross entry of a model that passes messages is O(0.01-1) of the diagonal at random initialisation; float32
    // autograd rounding is ~1e-6 of the O(1) terms it sums. 1e-4 is 100x above that noise, 100x below a working path.
    let reached = 1e-4
    let expectReached (what: string) (rel: (int * float) list) =
        for e, r in rel do Expect.isGreaterThan r reached $"{what}: output {e} must depend on the perturbed input (|J| / diagonal RMS = {r:g3})"
    let expectUnreached (what: string) (rel: (int * float) list) =
        for e, r in rel do Expect.equal r 0.0 $"{what}: output {e} is beyond the model's receptive field and must not depend on the input"

[<Tests>]
let tests =
    testList "RelationalTransformer" [
        testProp "sparse attention equals dense attention masked to the same neighbourhood (float64)" (fun (SmallLayout widths) (seed: int) (big: bool) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create (int64 seed)
            let b, h, dh = 2L, 2L, 3L
            let rnd (rows: int) = torch.randn([| b; int64 rows; h; dh |], generator = gen, dtype = torch.float64)
            let nt: EdgeAttention.NodeTerms = { Q = rnd g.NodeCount; K = rnd g.NodeCount; V = rnd g.NodeCount }
            let et: EdgeAttention.EdgeTerms = { Q = rnd g.EdgeCount; K = rnd g.EdgeCount; V = rnd g.EdgeCount; M = rnd g.EdgeCount }
            let dt: EdgeAttention.EdgeTerms =
                { Q = densify gen g et.Q 0.0; K = densify gen g et.K 0.0; V = densify gen g et.V 0.0; M = densify gen g et.M 1.0 }
            // scale 300 gives scores of order 1e3: a softmax without the per-node shift would overflow exp.
            let scale = if big then 300.0 else 1.0 / sqrt 6.0
            use mask = NeuralGraph.neighbourhoodMask g
            use s = EdgeAttention.sparse g scale nt et
            use d = EdgeAttention.dense (Some mask) scale nt dt
            // float64: both sum the same ≤ 13 terms in different orders; 1e-9 leaves a 1e4 margin over eps64·terms.
            Expect.allClose Tolerance.float64Law s d "sparse vs dense-masked"
            Check.finite "sparse attention" "" s
            true)

        test "the fused edge-attention kernel is built and loads here" {
            // The build compiles native/edge_attention.c with gcc; without it the model silently takes the slower
            // torch-operation path, which this test makes visible.
            Expect.isTrue (EdgeAttentionKernel.available.Force()) "libweightflow_native.so beside WeightFlow.Core.dll (needs gcc at build time)"
        }

        testProp "fused kernel equals the torch-operation attention: values and all seven gradients (float32)" (fun (SmallLayout widths) (seed: int) (big: bool) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create (int64 seed)
            let b, h, dh = 3L, 2L, 4L
            let rnd (rows: int) = torch.randn([| b; int64 rows; h; dh |], generator = gen).requires_grad_(true)
            let inputs = [| rnd g.NodeCount; rnd g.NodeCount; rnd g.NodeCount; rnd g.EdgeCount; rnd g.EdgeCount; rnd g.EdgeCount; rnd g.EdgeCount |]
            use gout = torch.randn([| b; int64 g.NodeCount; h; dh |], generator = gen)
            // scale 30 gives scores of order 1e2: the kernel's running maximum must keep exp in range
            let scale = if big then 30.0 else 1.0 / sqrt 8.0
            let run (f: unit -> Tensor) =
                Scope.value (fun () ->
                    let out = f ()
                    let grads = torch.autograd.grad([| out |], inputs, [| gout |])
                    out.detach().clone().DetachFromDisposeScope(), [| for x in grads -> x.clone().DetachFromDisposeScope() |])
            let n: EdgeAttention.NodeTerms = { Q = inputs[0]; K = inputs[1]; V = inputs[2] }
            let e: EdgeAttention.EdgeTerms = { Q = inputs[3]; K = inputs[4]; V = inputs[5]; M = inputs[6] }
            let fused, fusedGrads = run (fun () -> EdgeAttentionKernel.sparse g scale n.Q n.K n.V e.Q e.K e.V e.M)
            let ops, opsGrads = run (fun () -> EdgeAttention.sparseOps g scale n e)
            // float32, the same ≤ 13-term softmax sums in different orders (and with fused multiply-adds): ~1e-5
            // relative to each tensor's largest entry (1e-5 floor). At scale 30 the scores are ~1e2 and carry ~1e-4
            // of absolute rounding each (eps32 · 30 · Σ|q·k| over ~40), which the peaked softmax and the scale in the
            // score gradients amplify: 1e-3 relative there (a missing max-shift would give inf/NaN, not 1e-3).
            let tol (c: Tensor) = (if big then 1e-3 else Tolerance.float32Sum) * max 1.0 (c.abs().max().ToDouble())
            Expect.allClose (tol ops) fused ops "attention output"
            for i, (a, c) in Array.indexed (Array.zip fusedGrads opsGrads) do
                Expect.allClose (tol c) a c $"gradient of input {i} (q, k, v, qe, ke, ve, me)"
            for x in Array.concat [ [| fused; ops |]; fusedGrads; opsGrads; inputs ] do x.Dispose()
            true)

        testProp "factored attention (edge projections through e) equals the four-term attention: values and gradients (float32)" (fun (SmallLayout widths) (seed: int) (oneHead: bool) ->
            let l = Layout.create widths
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create (int64 seed)
            // two heads with De < 3·dh (the factored form pays) or the UCI shape's one head with De = dh
            let b, h, dh, de = if oneHead then 2L, 1L, 8L, 8L else 3L, 2L, 4L, 6L
            Expect.isTrue (EdgeAttention.factoredPays h dh de) "the factored form is taken for these widths"
            let rnd (shape: int64[]) = torch.randn(shape, generator = gen).requires_grad_(true)
            let n, m = int64 g.NodeCount, int64 g.EdgeCount
            let inputs = [| rnd [| b; n; h; dh |]; rnd [| b; n; h; dh |]; rnd [| b; n; h; dh |]; rnd [| b; m; de |]
                            (use w0 = torch.randn([| 4L * h * dh; de |], generator = gen) in w0.div(scalar (sqrt (float de))).requires_grad_(true)) |]
            use gout = torch.randn([| b; n; h; dh |], generator = gen)
            let scale = 1.0 / sqrt (float (h * dh))
            let nt: EdgeAttention.NodeTerms = { Q = inputs[0]; K = inputs[1]; V = inputs[2] }
            let run (f: unit -> Tensor) =
                Scope.value (fun () ->
                    let out = f ()
                    let grads = torch.autograd.grad([| out |], inputs, [| gout |])
                    out.detach().clone().DetachFromDisposeScope(), [| for x in grads -> x.clone().DetachFromDisposeScope() |])
            let factored, factoredGrads = run (fun () -> EdgeAttention.sparseProjected g scale nt inputs[3] inputs[4])
            let terms, termsGrads = run (fun () -> EdgeAttention.sparseOps g scale nt (EdgeAttention.edgeTerms h inputs[3] inputs[4]))
            // float32: the factored form reassociates each score's ~2·De products and each value's sum over ≤ 13
            // pairs; rounding ~1e-6 relative per entry. 1e-5 of each tensor's largest entry (1e-5 floor) leaves a
            // margin; a wrong term (a missing Wv, a transposed A, a missed direction) is off by O(1).
            let tol (c: Tensor) = Tolerance.float32Sum * max 1.0 (c.abs().max().ToDouble())
            Expect.allClose (tol terms) factored terms "attention output"
            for i, (a, c) in Array.indexed (Array.zip factoredGrads termsGrads) do
                Expect.allClose (tol c) a c $"gradient of input {i} (q, k, v, edges, projection weight)"
            for x in Array.concat [ [| factored; terms |]; factoredGrads; termsGrads; inputs ] do x.Dispose()
            true)

        test "without gradients the factored attention runs the kernel alone and equals the four-term attention" {
            // sampling a trained flow runs the model under no_grad: nothing may be saved for a backward
            let l = Layout.parse "6-5-4-2"
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 12L
            let rnd (shape: int64[]) = torch.randn(shape, generator = gen).requires_grad_(true)
            let n, m = int64 g.NodeCount, int64 g.EdgeCount
            let q, k, v = rnd [| 2L; n; 1L; 8L |], rnd [| 2L; n; 1L; 8L |], rnd [| 2L; n; 1L; 8L |]
            let e, w = rnd [| 2L; m; 8L |], rnd [| 32L; 8L |]
            use _ = torch.no_grad ()
            let nt: EdgeAttention.NodeTerms = { Q = q; K = k; V = v }
            use factored = EdgeAttention.sparseProjected g 0.3 nt e w
            let et = EdgeAttention.edgeTerms 1L e w
            use terms = EdgeAttention.sparseOps g 0.3 nt et
            Expect.isFalse factored.requires_grad "no graph recorded"
            // as in the gradient property: float32 reassociation, 1e-5 of the largest entry
            Expect.allClose (Tolerance.float32Sum * max 1.0 (terms.abs().max().ToDouble())) factored terms "same values"
            for t in [ q; k; v; e; w; et.Q; et.K; et.V; et.M ] do t.Dispose()
        }

        test "the default configurations take the factored attention; many narrow heads keep the four terms" {
            // the bench's UCI (d 64) and MNIST (d 32) settings, one head with De = H: the factored form must run there,
            // or `bench model` times (and RT.flops counts) the slower four-term path without saying so
            for d in [ 32; 64 ] do
                let c = RT.Config.defaults d 5
                Expect.isTrue (EdgeAttention.usesFactored torch.float32 DeviceType.CPU (int64 c.Heads) (int64 (c.AttentionWidth / c.Heads)) (int64 c.EdgeWidth)) $"defaults {d}"
            // 8 heads of width 8 with De = 64: u = A e would be 8·64 wide against 4·64 for the four terms
            Expect.isFalse (EdgeAttention.factoredPays 8L 8L 64L) "8 heads of 8, De 64"
            Expect.isFalse (EdgeAttention.usesFactored torch.float64 DeviceType.CPU 1L 64L 64L) "float64 runs the torch operations"
        }

        test "the factored kernel refuses tensors that do not match the graph" {
            let l = Layout.parse "6-5-4-2"
            use g = NeuralGraph.create torch.CPU l
            let n, m = int64 g.NodeCount, int64 g.EdgeCount
            let node = torch.zeros([| 2L; n; 1L; 4L |])
            let nodeE = torch.zeros([| 2L; n; 1L; 5L |])
            let e = torch.zeros([| 2L; m; 5L |])
            let u = torch.zeros([| 2L; m; 1L; 5L |])
            let me = torch.zeros([| 2L; m; 1L; 4L |])
            let short = torch.zeros([| 2L; m - 1L; 5L |])
            Expect.throwsT<System.ArgumentException> (fun () -> EdgeAttentionKernel.factored g 1.0 node node node nodeE nodeE short u me |> ignore) "one edge row short"
            Expect.throwsT<System.ArgumentException> (fun () -> EdgeAttentionKernel.factored g 1.0 node node node node nodeE e u me |> ignore) "qt of width dh, not De"
            use _ = torch.no_grad ()
            let out, ebar = EdgeAttentionKernel.factored g 1.0 node node node nodeE nodeE e u me
            Expect.equal (T.shape ebar) [| 2; int n; 1; 5 |] "ebar is [B, N, heads, De]"
            for t in [ node; nodeE; e; u; me; short; out; ebar ] do t.Dispose()
        }

        test "the fused kernel refuses tensors that do not match the graph (it reads raw memory)" {
            let l = Layout.parse "6-5-4-2"
            use g = NeuralGraph.create torch.CPU l
            let node = torch.zeros([| 2L; int64 g.NodeCount; 1L; 4L |])
            let edge = torch.zeros([| 2L; int64 g.EdgeCount; 1L; 4L |])
            let short = torch.zeros([| 2L; int64 g.EdgeCount - 1L; 1L; 4L |])
            Expect.throwsT<System.ArgumentException> (fun () -> EdgeAttentionKernel.sparse g 1.0 node node node edge short edge edge |> ignore) "one edge row short"
            Expect.throwsT<System.ArgumentException> (fun () -> EdgeAttentionKernel.sparse g 1.0 (node.to_type(torch.float64)) node node edge edge edge edge |> ignore) "float64"
            for t in [ node; edge; short ] do t.Dispose()
        }

        test "without gradients the fused kernel runs alone and equals the torch-operation attention" {
            // Inference (no_grad) must not go through the autograd function: nothing is saved for a backward that
            // never comes (a 150-step forward-only loop grew the process by ~1.1 GB when it did).
            let l = Layout.parse "6-5-4-2"
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 11L
            let rnd (rows: int) = torch.randn([| 2L; int64 rows; 2L; 3L |], generator = gen).requires_grad_(true)
            let x = [| rnd g.NodeCount; rnd g.NodeCount; rnd g.NodeCount; rnd g.EdgeCount; rnd g.EdgeCount; rnd g.EdgeCount; rnd g.EdgeCount |]
            use _ = torch.no_grad ()
            use fused = EdgeAttentionKernel.sparse g 0.4 x[0] x[1] x[2] x[3] x[4] x[5] x[6]
            use ops = EdgeAttention.sparseOps g 0.4 { Q = x[0]; K = x[1]; V = x[2] } { Q = x[3]; K = x[4]; V = x[5]; M = x[6] }
            Expect.isFalse fused.requires_grad "no graph recorded"
            Expect.allClose Tolerance.float32Sum fused ops "same values"
            for t in x do t.Dispose()
        }

        testProp "RT sparse is permutation equivariant" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            let m = rtModel (int64 seed) (smallConfig RT.Sparse (GraphEncoding.Fourier 4)) l
            equivariant (RT.apply m) widths seed)

        testProp "RT dense is permutation equivariant" (fun (SmallLayout widths) (seed: int) ->
            let l = Layout.create widths
            let m = rtModel (int64 seed) (smallConfig RT.Dense GraphEncoding.Channel) l
            equivariant (RT.apply m) widths seed)

        testProp "RT with the node-product pairing and the √degree aggregation is permutation equivariant (sparse and dense)" (fun (SmallLayout widths) (seed: int) (dense: bool) ->
            let l = Layout.create widths
            let c = { smallConfig (if dense then RT.Dense else RT.Sparse) (GraphEncoding.Fourier 4) with Pairing = RT.SumAndProduct; Aggregation = RT.SqrtDegree }
            let m = rtModel (int64 seed) c l
            equivariant (RT.apply m) widths seed)

        test "the node-product pairing: zero product weights give the sum pairing's function, others change it" {
            let l = Layout.parse "5-4-3-2"
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 13L
            let theta, t = inputs gen l 3
            use theta = theta
            use t = t
            for n in [ RT.Sparse; RT.Dense ] do
                let c = smallConfig n (GraphEncoding.Fourier 4)
                let sum = rtModel 1L c l
                let product = rtModel 2L { c with Pairing = RT.SumAndProduct } l
                let sumNames = RT.parameters sum |> List.map fst
                let extra = RT.parameters product |> List.map fst |> List.filter (fun x -> not (List.contains x sumNames))
                Expect.isFalse (sumNames |> List.exists (fun x -> x.Contains "product")) "the default pairing adds no parameter"
                Expect.equal extra [ for i in 0 .. c.Layers - 1 do
                                         for side in [ "source"; "target" ] -> $"blocks.{i}.edge.product_{side}.weight" ] "two bias-free Linears per block"
                use _ = torch.no_grad ()
                let byName = dict (RT.parameters sum)
                for name, p in RT.parameters product do
                    if byName.ContainsKey name then p.copy_(byName[name]) |> ignore else p.zero_() |> ignore
                use os = RT.apply sum g t theta
                use op = RT.apply product g t theta
                // x + 0 ⊙ 0 is x exactly: the only difference of the two models is the product term
                Expect.bitExact op os $"{n}: zero product weights, the sum pairing's outputs"
                let randomize (p: Tensor) =
                    use r = torch.randn(p.shape, generator = gen)
                    p.copy_(r) |> ignore
                for name, p in RT.parameters product do
                    if name.Contains "product" then randomize p
                use op2 = RT.apply product g t theta
                use d = (op2 - os).abs().max()
                // unit-variance product weights move the edge messages by O(1): far above float32 rounding
                Expect.isGreaterThan (d.ToDouble()) 1e-3 $"{n}: the product term changes the output"
        }

        test "neighbourhood sizes: 1 + in-degree + out-degree (sparse), N (dense)" {
            let l = Layout.parse "3-4-2"
            Expect.equal (RT.neighbourhoodSizes RT.Sparse l) [| 5.; 5.; 5.; 6.; 6.; 6.; 6.; 5.; 5. |] "3-4-2 sparse"
            Expect.equal (RT.neighbourhoodSizes RT.Dense l) (Array.create 9 9.0) "3-4-2 dense"
            let m = RT.neighbourhoodSizes RT.Sparse (Layout.parse "784-10-10")
            Expect.equal (m[0], m[784], m[803]) (11.0, 795.0, 11.0) "MNIST: a pixel, a hidden neuron, an output"
        }

        test "the √degree aggregation changes the attention output only and adds no parameter" {
            // Through the public model: the same parameters with Mean and with SqrtDegree compute different
            // functions, and the same function once the attention's last Linear (attn.lin0) is zero, i.e. the
            // option touches the attention output and nothing else.
            let l = Layout.parse "3-4-2"
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 21L
            let theta, t = inputs gen l 2
            use theta = theta
            use t = t
            let c = smallConfig RT.Sparse (GraphEncoding.Fourier 4)
            let mean = rtModel 5L c l
            let scaled = rtModel 5L { c with Aggregation = RT.SqrtDegree } l
            Expect.equal (RT.parameters mean |> List.map fst) (RT.parameters scaled |> List.map fst) "the aggregation adds no parameter"
            use _ = torch.no_grad ()
            use a = RT.apply mean g t theta
            use b = RT.apply scaled g t theta
            use d = (a - b).abs().max()
            // the same seed draws the same parameters; a ×√5..√7 attention output changes every node's features by O(1)
            Expect.isGreaterThan (d.ToDouble()) 1e-3 "the scale changes the function"
            // with every attention output projection zero the attention contributes nothing, scaled or not
            for m in [ mean; scaled ] do
                for name, p in RT.parameters m do
                    if name.Contains "attn.lin0" then p.zero_() |> ignore
            use a0 = RT.apply mean g t theta
            use b0 = RT.apply scaled g t theta
            Expect.bitExact b0 a0 "the scale acts on the attention output only"
        }

        test "the node-product pairing and the √degree aggregation are saved in the model file and read back; the defaults write no entry" {
            let l = Layout.parse "3-4-2"
            let c = smallConfig RT.Sparse (GraphEncoding.Fourier 4)
            let meta config = VelocityModel.toMetadata config l |> List.map fst
            Expect.isFalse (meta (VelocityConfig.Rt c) |> List.contains "model.pairing") "the default adds no header entry (existing checkpoints keep their identity)"
            Expect.isFalse (meta (VelocityConfig.Rt c) |> List.contains "model.aggregation") "nor does the default aggregation"
            let product = VelocityConfig.Rt { c with Pairing = RT.SumAndProduct; Aggregation = RT.SqrtDegree }
            use gen0 = Scope.Rng.create 3L
            let m = VelocityModel.init gen0 torch.CPU product l
            expectModelRoundTrip "rt-pairing" "the pairing and the aggregation read back" l m
        }

        testProp "RT batched output equals per-sample output (sparse and dense)" (fun (SmallLayout widths) (seed: int) (dense: bool) ->
            let l = Layout.create widths
            let m = rtModel (int64 seed) (smallConfig (if dense then RT.Dense else RT.Sparse) (GraphEncoding.Fourier 4)) l
            batchedEqualsPerSample (RT.apply m) widths seed)

        test "RT gradients are finite (sparse and dense, both time modes, both node pairings)" {
            for n in [ RT.Sparse; RT.Dense ] do
                for time, pairing in [ GraphEncoding.Fourier 4, RT.Sum; GraphEncoding.Channel, RT.Sum; GraphEncoding.Fourier 4, RT.SumAndProduct ] do
                    let l = Layout.parse "3-5-4-2"
                    let m = rtModel 1L { smallConfig n time with Pairing = pairing } l
                    gradientsFinite (RT.parameters m) (RT.apply m) [ 3; 5; 4; 2 ]
        }

        test "the model built for 784-10-10 runs unchanged on 784-32-10 with the same parameter count" {
            let c = { RT.Config.defaults 8 1 with Heads = 1 }
            let narrow = rtModel 3L c (Layout.parse "784-10-10")
            let wide = rtModel 3L c (Layout.parse "784-32-10")
            let count m = Params.count (RT.parameters m)
            Expect.equal (count narrow) (count wide) "same parameter count"
            Expect.equal (RT.parameters narrow |> List.map fst) (RT.parameters wide |> List.map fst) "same names"
            runsOn (RT.apply narrow) "784-32-10"
        }

        test "a model for 784-10-10 refuses 30-16-16-2 with a message" {
            let m = rtModel 3L (RT.Config.defaults 8 1) (Layout.parse "784-10-10")
            use g = NeuralGraph.create torch.CPU (Layout.parse "30-16-16-2")
            use gen = Scope.Rng.create 4L
            let theta, t = inputs gen g.Layout 1
            use theta = theta
            use t = t
            Expect.throwsT<ArgumentException> (fun () -> RT.apply m g t theta |> ignore) "position mismatch"
        }

        test "anchor configuration: parameter counts match the anchors table minus the unused graph proj_out" {
            // anchors §3.5: (layout, d_E, layers, total, unused graph-level proj_out). We do not build the unused head
            // (anchors P17), so our count is total - unused.
            for layout, dE, layers, total, unused in
                [ "784-10-10", 8, 3, 12293, 809; "784-10-10", 32, 5, 145769, 11681; "30-16-16-2", 64, 5, 436809, 12609
                  "30-16-16-2", 32, 5, 112969, 3233 ] do
                let m = rtModel 0L (RT.Config.anchor dE layers) (Layout.parse layout)
                let ps = RT.parameters m
                Expect.equal (Params.count ps) (int64 (total - unused)) $"{layout} d_E={dE} {layers} layers"
                Params.dispose ps
        }

        test "save and load by name round-trip; a mismatched file fails listing missing and unexpected names" {
            let l = Layout.parse "3-4-2"
            let c = smallConfig RT.Sparse (GraphEncoding.Fourier 4)
            let a = rtModel 1L c l
            let b = rtModel 2L c l
            let path = Path.Combine(Path.GetTempPath(), $"wf-rt-{Guid.NewGuid()}.safetensors")
            try
                Params.save path [ "layout", string l ] (RT.parameters a)
                Params.load path (RT.parameters b)
                use g = NeuralGraph.create torch.CPU l
                use gen = Scope.Rng.create 4L
                let theta, t = inputs gen l 2
                use theta = theta
                use t = t
                use _ = torch.no_grad ()
                use oa = RT.apply a g t theta
                use ob = RT.apply b g t theta
                Expect.bitExact ob oa "loaded model computes the same function"
                let other = rtModel 1L { c with Layers = 3; Time = GraphEncoding.Channel; NodeWidth = 9 } l
                let e = Expect.throwsC (fun () -> Params.load path (RT.parameters other)) id
                Expect.stringContains e.Message "missing names: blocks.2." "lists the missing block"
                Expect.stringContains e.Message "unexpected names: encoder.time_edge.bias" "lists the unexpected time layers"
                Expect.stringContains e.Message "shape mismatches: " "lists shape mismatches"
            finally
                File.Delete path
        }

        test "Adam steps on a sparse model reduce a regression loss" {
            let l = Layout.parse "4-5-3"
            let m = rtModel 7L (smallConfig RT.Sparse (GraphEncoding.Fourier 4)) l
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 8L
            let theta, t = inputs gen l 4
            use theta = theta
            use t = t
            use target = theta * 0.5
            let opt = Optim.create (Optim.adam 1e-2) (RT.parameters m)
            let step () = Optim.minimize opt (fun () -> (RT.apply m g t theta - target).square().mean())
            let first = step ()
            let mutable last = first
            for _ in 1 .. 30 do last <- step ()
            // 30 Adam steps at lr 1e-2 on a 4-sample regression: a working gradient halves the loss easily.
            Expect.isLessThan last (0.5 * first) "loss decreases"
        }
    
        testSequenced <| test "training steps in per-step scopes keep the live tensor count flat (STYLE §8.6)" {
            let l = Layout.parse "4-5-3"
            let m = rtModel 9L (smallConfig RT.Sparse (GraphEncoding.Fourier 4)) l
            use g = NeuralGraph.create torch.CPU l
            use gen = Scope.Rng.create 8L
            let theta, t = inputs gen l 2
            use theta = theta
            use t = t
            let opt = Optim.create (Optim.adam 1e-3) (RT.parameters m)
            let step () = Optim.minimize opt (fun () -> (RT.apply m g t theta).square().mean()) |> ignore
            for _ in 1 .. 3 do step ()
            let live () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            let before = live ()
            for _ in 1 .. 10 do step ()
            Expect.equal (live ()) before "no tensor outlives its step"
        }

        testList "message passing reaches other edges (issue 13)" [
            let l = Layout.parse "3-4-2"
            let point seed =
                use gen = Scope.Rng.create seed
                let theta, t = inputs gen l 1
                theta, t
            for name, c in [ "defaults", RT.Config.defaults 8 2
                             "sum+product, sqrt-degree", { RT.Config.defaults 8 2 with Pairing = RT.SumAndProduct; Aggregation = RT.SqrtDegree }
                             "dense", { RT.Config.defaults 8 2 with Neighbourhood = RT.Dense } ] do
                test $"2-layer RT ({name}): one hop and two hops, edges and biases" {
                    let m = rtModel 21L c l
                    use g = NeuralGraph.create torch.CPU l
                    let theta, t = point 22L
                    use theta = theta
                    use t = t
                    let j = jacobian (RT.apply m g) t theta
                    MessagePassing.expectReached "edge -> edge, one hop" (MessagePassing.relative j MessagePassing.f MessagePassing.oneHop)
                    MessagePassing.expectReached "edge -> edge, two hops" (MessagePassing.relative j MessagePassing.f MessagePassing.twoHop)
                    MessagePassing.expectReached "bias -> edge/bias, one hop" (MessagePassing.relative j MessagePassing.bias MessagePassing.biasOneHop)
                    MessagePassing.expectReached "bias -> bias, two hops" (MessagePassing.relative j MessagePassing.bias MessagePassing.biasTwoHop)
                }
            test "1-layer sparse RT: one hop reached, two hops exactly not (the check can fail)" {
                let m = rtModel 21L (RT.Config.defaults 8 1) l
                use g = NeuralGraph.create torch.CPU l
                let theta, t = point 22L
                use theta = theta
                use t = t
                let j = jacobian (RT.apply m g) t theta
                MessagePassing.expectReached "edge -> edge, one hop" (MessagePassing.relative j MessagePassing.f MessagePassing.oneHop)
                MessagePassing.expectUnreached "edge -> edge, two hops" (MessagePassing.relative j MessagePassing.f MessagePassing.twoHop)
                MessagePassing.expectUnreached "bias -> bias, two hops" (MessagePassing.relative j MessagePassing.bias MessagePassing.biasTwoHop)
            }
            test "the velocity-model wrapper (VelocityConfig.defaults Rt) passes messages as the RT does" {
                use gen = Scope.Rng.create 23L
                let vm = VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Rt 8 2) l
                let theta, t = point 22L
                use theta = theta
                use t = t
                let j = jacobian (VelocityModel.apply vm) t theta
                MessagePassing.expectReached "edge -> edge, one hop" (MessagePassing.relative j MessagePassing.f MessagePassing.oneHop)
                MessagePassing.expectReached "edge -> edge, two hops" (MessagePassing.relative j MessagePassing.f MessagePassing.twoHop)
                MessagePassing.expectReached "bias -> bias, two hops" (MessagePassing.relative j MessagePassing.bias MessagePassing.biasTwoHop)
            }
        ]
    ]

