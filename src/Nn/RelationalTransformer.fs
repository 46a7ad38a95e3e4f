/// The velocity / endpoint model: a Relational Transformer with edge updates over the neural graph of a batch of
/// MLPs (Diao & Loynd 2023; Kofinas et al. 2024; anchors §3). It reads flat weights [B, P] and a time t [B] and
/// writes one value per weight and bias, [B, P], in the same flat order.
///
/// Two neighbourhoods share every parameter: `Sparse` attends over each node's real edges (EdgeAttention.sparse,
/// one feature row per weight) and `Dense` over all N² node pairs with a dense edge tensor whose non-edges carry
/// proj(0), as the anchor code does (anchors P2). They are different models on the same parameters; `Dense` exists
/// to compare quality on small networks and to reproduce the anchor's parameter count.
///
/// Design decisions (each differs from or chooses within the anchors; see the notes on `TimeConditioning`):
/// - e_ji in the edge update. Dense: the reverse entry of the N×N tensor, as in the anchors. Sparse: each weight has
///   one feature row, so e_ji := e_ij and lin0_e([e_ij; e_ji]) = (W_a + W_b) e_ij + b, computed with the summed
///   weight (no concatenation, the same parameters as the dense variant).
/// - Self pairs in sparse attention use the node terms alone (EdgeAttention).
/// - The unused graph-level `proj_out` of the anchor is not built (anchors P17): the anchor's dense parameter count
///   equals ours plus C·Dn·H + H + H·H + H + H + 1 (11,681 for 784-10-10 at d_E = 32).
///
/// Speed (a sparse step's cost is all over the B·E edge rows: about half MKL GEMMs with their packing, the rest
/// elementwise passes and the attention kernel; perf, UCI, 2 threads): one feature row per weight; the edge
/// projections factored through the edge features where that saves work (EdgeAttention.sparseProjected: two GEMMs
/// over the edge rows instead of four), else four De -> H products; the encoder's last two Linears applied as one;
/// residual sums in place on fresh Linear outputs; `split`/`unbind` instead of per-use `narrow`/`select` (whose
/// backward writes a whole-size zero gradient each time); the attention core as one fused native kernel
/// (EdgeAttentionKernel; block reductions in torch operations where it is unavailable).
[<RequireQualifiedAccess>]
module WeightFlow.RelationalTransformer

open TorchSharp
open TorchSharp.Modules
open WeightFlow.Layers
open WeightFlow.GraphEncoding

type private F = torch.nn.functional

/// Which node pairs attention and edge updates run over.
type Neighbourhood =
    /// Each node's incoming and outgoing edges and itself.
    | Sparse
    /// All N² node pairs, non-edges included (the anchor code).
    | Dense

/// How the edge update combines the states of an edge's two nodes (anchors §3.3 step 3).
type NodePairing =
    /// The anchors': s_i + t_j, a sum of one Linear of each node, before the edge update's GELU. A product of the two
    /// nodes' features (what an edge needs to write "this input's pattern times this neuron's coefficient") has to
    /// be approximated by that GELU of width EdgeHidden.
    | Sum
    /// The sum plus the elementwise product (P_s n_i) ⊙ (P_t n_j) of two further Linears (Dn -> EdgeHidden, no
    /// bias): a bilinear term of rank EdgeHidden. Why (README "MNIST flows", scripts/mnist-denoiser-bounds.fsx): on
    /// the standardized MNIST zoo the best linear denoiser that treats hidden neurons alike reaches a loss far below
    /// the per-coordinate one in t ∈ [0.2, 0.8), by projecting each neuron's incoming weights on a few input
    /// patterns u_c and writing back Σ_c u_c(i)·coef_c(k) on edge (i, k); the attention can form the coefficients
    /// (Σ_i a_ik v_i ⊙ me_ik), but writing them back is a product of the input node's and the neuron's features.
    | SumAndProduct

/// What the attention sub-layer hands to its output projection.
type Aggregation =
    /// The anchors': out_i = Σ_j softmax_j(score_ij) v_ij, a weighted mean over node i's neighbourhood.
    | Mean
    /// The weighted mean times √(|neighbourhood|) of node i (1 + in-degree + out-degree; N in the dense variant).
    /// Why: a hidden MNIST neuron averages over 795 pairs, so a projection Σ_j u_j·z_jk of its 784 incoming weights
    /// (what a denoiser beyond the per-coordinate one needs, scripts/mnist-denoiser-bounds.fsx) arrives with
    /// std ~ 1/√795 beside O(1) node features, and Adam, whose steps are bounded by the learning rate, needs thousands
    /// of steps to grow the output projection by the missing ~28x. Scaling by √degree (as fan-in initialisation
    /// scales a sum of independent terms) makes such a projection O(1) from the start; the post-LayerNorm bounds the
    /// result either way. Equivariance is kept: the degree depends only on a node's layer.
    | SqrtDegree

/// An extra term on the output for the fixed-index parts of every hidden neuron's row (NeuronRowLinear).
type NeuronRows =
    /// None (the anchors' model).
    | NoRowTerm
    /// NeuronRowLinear: per hidden layer, one time-gated rank-`rank` linear map shared by all its neurons, from a
    /// neuron's incoming weights from the input layer, its bias and its outgoing weights to the output layer (means
    /// over the other side where that side is a hidden layer) to the same coordinates, added to the output. Why: on the
    /// standardized MNIST zoo the best such linear map (the "shared" denoiser line) lies far below the per-coordinate
    /// line where every RT run sat (docs/results/mnist-flows.md, "Why the RT stays on its plateau").
    | SharedLowRank of rank: int

/// Widths and depth. Node and edge widths are independent.
type Config =
    { /// Dn: node feature width in the residual stream.
      NodeWidth: int
      /// De: edge feature width in the residual stream.
      EdgeWidth: int
      /// H: total attention width (all heads together); the score scale is 1/√H (anchors P15).
      AttentionWidth: int
      Heads: int
      /// Hidden width of the node feed-forward block.
      NodeHidden: int
      /// Hidden width of the edge update and the edge feed-forward block.
      EdgeHidden: int
      /// Hidden width of the output heads.
      OutputHidden: int
      Layers: int
      /// Linears of each input projection MLP before the extra projection (anchors: 3).
      InputLayers: int
      Time: TimeConditioning
      PositionalEmbedding: bool
      Neighbourhood: Neighbourhood
      /// How the edge update combines its two nodes (default Sum, the anchors').
      Pairing: NodePairing
      /// The attention's output scale (default Mean, the anchors').
      Aggregation: Aggregation
      /// The equivariant neuron-row linear term on the output (default NoRowTerm, the anchors' model).
      NeuronRows: NeuronRows }

[<RequireQualifiedAccess>]
module Config =
    /// The anchor (weightflow) configuration for hidden width d_E: Dn = De = d_E + 1 with t as a channel, every
    /// hidden width d_E, one head, 3-layer input MLPs, positional embeddings on, dense attention.
    let anchor (dE: int) (layers: int) : Config =
        { NodeWidth = dE + 1; EdgeWidth = dE + 1; AttentionWidth = dE; Heads = 1; NodeHidden = dE; EdgeHidden = dE
          OutputHidden = dE; Layers = layers; InputLayers = 3; Time = Channel; PositionalEmbedding = true
          Neighbourhood = Dense; Pairing = Sum; Aggregation = Mean; NeuronRows = NoRowTerm }

    /// This project's default at width d: every width d, one head, Fourier time (8 octaves), sparse attention.
    let defaults (d: int) (layers: int) : Config =
        { NodeWidth = d; EdgeWidth = d; AttentionWidth = d; Heads = 1; NodeHidden = d; EdgeHidden = d
          OutputHidden = d; Layers = layers; InputLayers = 3; Time = Fourier 8; PositionalEmbedding = true
          Neighbourhood = Sparse; Pairing = Sum; Aggregation = Mean; NeuronRows = NoRowTerm }

    let validate (c: Config) =
        let positive = [ "NodeWidth", c.NodeWidth; "EdgeWidth", c.EdgeWidth; "AttentionWidth", c.AttentionWidth
                         "Heads", c.Heads; "NodeHidden", c.NodeHidden; "EdgeHidden", c.EdgeHidden
                         "OutputHidden", c.OutputHidden; "Layers", c.Layers; "InputLayers", c.InputLayers ]
        for name, v in positive do Check.arg "config" (v >= 1) $"{name} must be at least 1 but is {v}."
        Check.arg "config" (c.AttentionWidth % c.Heads = 0)
            $"AttentionWidth ({c.AttentionWidth}) must be a multiple of Heads ({c.Heads})."
        match c.NeuronRows with
        | SharedLowRank r -> Check.arg "config" (r >= 1) $"The neuron-row term's rank must be at least 1 but is {r}; use NoRowTerm to turn it off."
        | NoRowTerm -> ()
        match c.Time with
        | Channel -> Check.arg "config" (c.NodeWidth >= 2 && c.EdgeWidth >= 2) "With the time channel, NodeWidth and EdgeWidth must be at least 2 (one channel is t)."
        | Fourier k -> Check.arg "config" (k >= 1) $"Fourier time needs at least one frequency; got {k}."

/// The number of pairs each node attends over, in node order: sparse, 1 + in-degree + out-degree (itself, its
/// incoming and its outgoing edges); dense, all N nodes. Aggregation.SqrtDegree scales by the square roots.
let neighbourhoodSizes (n: Neighbourhood) (layout: Layout) : float[] =
    let w = layout.Widths
    match n with
    | Dense -> Array.create (Array.sum w) (float (Array.sum w))
    | Sparse ->
        [| for l in 0 .. w.Length - 1 do
             let size = 1 + (if l > 0 then w[l - 1] else 0) + (if l < w.Length - 1 then w[l + 1] else 0)
             yield! Array.create w[l] (float size) |]

// ---------------------------------------------------------------------------------------------------------------
// One RT layer (anchors §3.3)

[<NoEquality; NoComparison>]
type Attention =
    { /// Dn -> 3H, no bias: q_i, k_i, v_i (split inside each head chunk, anchors P15).
      QkvNode: Linear
      /// De -> 4H, no bias: qe_ij, ke_ij, ve_ij, me_ij.
      QkvEdge: Linear
      /// H -> Dn.
      ProjOut: Linear
      /// Dn -> Dn, after ProjOut (anchors P15: two stacked linears).
      Lin0: Linear }

[<NoEquality; NoComparison>]
type EdgeUpdate =
    { /// 2De -> EdgeHidden on [e_ij; e_ji].
      FromEdges: Linear
      FromSource: Linear
      FromTarget: Linear
      /// Dn -> EdgeHidden, no bias, each: the two factors of the product term (NodePairing.SumAndProduct).
      Product: (Linear * Linear) option
      Out: Linear }

[<NoEquality; NoComparison>]
type Block =
    { Attention: Attention
      Norm0: LayerNorm
      Ffn: FeedForward
      Norm1: LayerNorm
      Edge: EdgeUpdate
      EdgeNorm0: LayerNorm
      EdgeFfn: FeedForward
      EdgeNorm1: LayerNorm }

[<RequireQualifiedAccess>]
module Block =
    let init gen device (c: Config) : Block =
        let lin bias i o = Linear.init gen device Xavier bias i o
        let dn, de, h = c.NodeWidth, c.EdgeWidth, c.AttentionWidth
        { Attention = { QkvNode = lin false dn (3 * h); QkvEdge = lin false de (4 * h); ProjOut = lin true h dn; Lin0 = lin true dn dn }
          Norm0 = LayerNorm.init device dn
          Ffn = FeedForward.init gen device dn c.NodeHidden
          Norm1 = LayerNorm.init device dn
          Edge = { FromEdges = lin true (2 * de) c.EdgeHidden; FromSource = lin true dn c.EdgeHidden
                   FromTarget = lin true dn c.EdgeHidden
                   Product = (match c.Pairing with
                              | Sum -> None
                              | SumAndProduct -> Some (lin false dn c.EdgeHidden, lin false dn c.EdgeHidden))
                   Out = lin true c.EdgeHidden de }
          EdgeNorm0 = LayerNorm.init device de
          EdgeFfn = FeedForward.init gen device de c.EdgeHidden
          EdgeNorm1 = LayerNorm.init device de }

    let parameters (p: Block) : Params.Named =
        let a, e = p.Attention, p.Edge
        [ yield! Params.under "attn.qkv_node" (Linear.parameters a.QkvNode)
          yield! Params.under "attn.qkv_edge" (Linear.parameters a.QkvEdge)
          yield! Params.under "attn.proj_out" (Linear.parameters a.ProjOut)
          yield! Params.under "attn.lin0" (Linear.parameters a.Lin0)
          yield! Params.under "norm0" (LayerNorm.parameters p.Norm0)
          yield! Params.under "ffn" (FeedForward.parameters p.Ffn)
          yield! Params.under "norm1" (LayerNorm.parameters p.Norm1)
          yield! Params.under "edge.from_edges" (Linear.parameters e.FromEdges)
          yield! Params.under "edge.from_source" (Linear.parameters e.FromSource)
          yield! Params.under "edge.from_target" (Linear.parameters e.FromTarget)
          match e.Product with
          | Some (ps, pt) ->
              yield! Params.under "edge.product_source" (Linear.parameters ps)
              yield! Params.under "edge.product_target" (Linear.parameters pt)
          | None -> ()
          yield! Params.under "edge.out" (Linear.parameters e.Out)
          yield! Params.under "edge_norm0" (LayerNorm.parameters p.EdgeNorm0)
          yield! Params.under "edge_ffn" (FeedForward.parameters p.EdgeFfn)
          yield! Params.under "edge_norm1" (LayerNorm.parameters p.EdgeNorm1) ]

    /// √(neighbourhood size) as [1, N, 1] in x's dtype and device (Aggregation.SqrtDegree).
    let private neighbourhoodScale (c: Config) (g: NeuralGraph) (x: Tensor) : Tensor =
        use t = torch.tensor(neighbourhoodSizes c.Neighbourhood g.Layout |> Array.map sqrt, dtype = x.dtype, device = x.device)
        t.view(1L, -1L, 1L)

    /// The attention sub-layer's output before the residual: [B, N, Dn]. Edges are [B, E, De] or [B, N, N, De].
    let private attend (c: Config) (p: Attention) (g: NeuralGraph) (nodes: Tensor) (edges: Tensor) : Tensor =
        let b, n = nodes.shape[0], nodes.shape[1]
        let heads, dh = int64 c.Heads, int64 (c.AttentionWidth / c.Heads)
        use qkv = Linear.apply p.QkvNode nodes
        use q5 = qkv.view(b, n, heads, 3L, dh)
        // `unbind` (backward: one stack) rather than `select` (backward: a zero gradient of the whole input each)
        let qkvN = q5.unbind(3L)
        let nt: EdgeAttention.NodeTerms = { Q = qkvN[0]; K = qkvN[1]; V = qkvN[2] }
        let scale = 1.0 / sqrt (float c.AttentionWidth)
        use out =
            match c.Neighbourhood with
            | Sparse -> EdgeAttention.sparseProjected g scale nt edges p.QkvEdge.Weight
            | Dense ->
                let et = EdgeAttention.edgeTerms heads edges p.QkvEdge.Weight
                let o = EdgeAttention.dense None scale nt et
                for x in [ et.Q; et.K; et.V; et.M ] do x.Dispose()
                o
        for x in [ nt.Q; nt.K; nt.V ] do x.Dispose()
        use merged0 = out.reshape(b, n, int64 c.AttentionWidth)
        use merged =
            match c.Aggregation with
            | Mean -> merged0.alias()
            | SqrtDegree ->
                use scale = neighbourhoodScale c g merged0
                merged0 * scale
        use o = Linear.apply p.ProjOut merged
        Linear.apply p.Lin0 o

    /// Messages of the edge update before the residual (anchors §3.3 step 3), from the updated nodes.
    let private edgeMessage (c: Config) (p: EdgeUpdate) (g: NeuralGraph) (nodes: Tensor) (edges: Tensor) : Tensor =
        let de = int64 c.EdgeWidth
        use s = Linear.apply p.FromSource nodes
        use t = Linear.apply p.FromTarget nodes
        let w = p.FromEdges.Weight
        use wa = w.narrow(1L, 0L, de)
        use wb = w.narrow(1L, de, de)
        use x =
            match c.Neighbourhood with
            | Sparse ->
                // e_ji := e_ij, so [e_ij; e_ji] Wᵀ = e_ij (W_a + W_b)ᵀ.
                use wsum = wa + wb
                let x0 = F.linear(edges, wsum, p.FromEdges.Bias.Value)
                // s_src + t_dst on every edge row, built per weight layer as the broadcast sum of the block's
                // source and target rows ([B, in, 1, eh] + [B, 1, out, eh]) rather than by two index_selects:
                // its backward is two sum reductions instead of two index_adds (scatters).
                let w = g.Layout.Widths |> Array.map int64
                let b, eh = s.shape[0], s.shape[2]
                // combine(src rows of layer l, dst rows of layer l + 1) broadcast to [B, in·out, eh] per weight layer,
                // concatenated in edge order
                let perEdge (combine: Tensor -> Tensor -> Tensor) (src: Tensor) (dst: Tensor) : Tensor =
                    let sL, tL = src.split(w, 1L), dst.split(w, 1L)
                    let pairs =
                        [| for l in 0 .. w.Length - 2 ->
                            use sS = sL[l].unsqueeze(2L)
                            use tT = tL[l + 1].unsqueeze(1L)
                            use st = combine sS tT
                            st.view(b, w[l] * w[l + 1], eh) |]
                    for x in Array.append sL tL do x.Dispose()
                    let all = torch.cat(pairs, 1L)
                    for x in pairs do x.Dispose()
                    all
                use st = perEdge (fun a c -> a + c) s t
                // in place on a fresh Linear output (its backward does not need the output)
                let x1 = x0.add_(st)
                match p.Product with
                | None -> x1
                | Some (ps, pt) ->
                    // (P_s n_src) ⊙ (P_t n_dst) per weight layer, broadcast as the sum above
                    use ls = Linear.apply ps nodes
                    use lt = Linear.apply pt nodes
                    use pr = perEdge (fun a c -> a * c) ls lt
                    use _ = x1
                    x1 + pr
            | Dense ->
                use xa = F.linear(edges, wa, p.FromEdges.Bias.Value)
                use xb = F.linear(edges, wb)
                use x1 = xa + xb.transpose(1L, 2L)
                use x2 = x1 + s.unsqueeze(2L)
                let x3 = x2 + t.unsqueeze(1L)
                match p.Product with
                | None -> x3
                | Some (ps, pt) ->
                    use ls = Linear.apply ps nodes
                    use lt = Linear.apply pt nodes
                    use pr = ls.unsqueeze(2L) * lt.unsqueeze(1L)
                    use _ = x3
                    x3 + pr
        use a = F.gelu x
        Linear.apply p.Out a

    /// One layer: attention + post-LN node update, feed-forward, then the edge update from the updated nodes.
    let apply (c: Config) (p: Block) (g: NeuralGraph) (nodes: Tensor) (edges: Tensor) : Tensor * Tensor =
        // Residual sums are taken in place on the fresh sub-layer outputs (Linear outputs, not needed by backward).
        let n2 =
            use att = attend c p.Attention g nodes edges
            let r0 = att.add_(nodes)
            use n1 = LayerNorm.apply p.Norm0 r0
            use ff = FeedForward.apply p.Ffn n1
            let r1 = ff.add_(n1)
            LayerNorm.apply p.Norm1 r1
        let e2 =
            use m = edgeMessage c p.Edge g n2 edges
            let r0 = m.add_(edges)
            use e1 = LayerNorm.apply p.EdgeNorm0 r0
            use ff = FeedForward.apply p.EdgeFfn e1
            let r1 = ff.add_(e1)
            LayerNorm.apply p.EdgeNorm1 r1
        n2, e2

// ---------------------------------------------------------------------------------------------------------------
// The model

[<NoEquality; NoComparison>]
type Model =
    { Config: Config; Encoder: Encoder; Blocks: Block list; Heads: Heads
      /// NeuronRows = SharedLowRank: the term added to the output.
      RowTerm: NeuronRowLinear.Term option }

/// Builds a model for networks with the positional structure of `layout` (input width, depth, output width; the
/// hidden widths are free). Parameters are drawn from `gen` on the CPU and moved to `device`.
let init (gen: torch.Generator) (device: Device) (c: Config) (layout: Layout) : Model =
    Config.validate c
    let encoder = Encoder.init gen device c.Time c.InputLayers c.PositionalEmbedding (NeuralGraph.positionCount layout) c.NodeWidth c.EdgeWidth
    let blocks = List.init c.Layers (fun _ -> Block.init gen device c)
    let heads = Heads.init gen device c.NodeWidth c.EdgeWidth c.OutputHidden
    // drawn last, so the rest of a seeded model is the same with the term on or off
    let rowTerm = match c.NeuronRows with NoRowTerm -> None | SharedLowRank r -> Some (NeuronRowLinear.init gen device r layout)
    { Config = c; Encoder = encoder; Blocks = blocks; Heads = heads; RowTerm = rowTerm }

/// Every parameter under its stable dotted name (the checkpoint keys), in a fixed order.
let parameters (m: Model) : Params.Named =
    [ yield! Params.under "encoder" (Encoder.parameters m.Encoder)
      for i, b in List.indexed m.Blocks do yield! Params.under $"blocks.{i}" (Block.parameters b)
      yield! Params.under "heads" (Heads.parameters m.Heads)
      match m.RowTerm with Some r -> yield! Params.under "row_term" (NeuronRowLinear.parameters r) | None -> () ]

/// The same parameters run over another neighbourhood.
let withNeighbourhood (n: Neighbourhood) (m: Model) : Model = { m with Config = { m.Config with Neighbourhood = n } }

/// One value per weight and bias: t [B], theta [B, P] -> [B, P]. Pure: opens no scope, disposes no input.
let apply (m: Model) (g: NeuralGraph) (t: Tensor) (theta: Tensor) : Tensor =
    let c = m.Config
    if t.dim() <> 1L || t.shape[0] <> theta.shape[0] then
        invalidArg "t" $"t must have shape [B] = [{theta.shape[0]}] (one time per network) but has %A{t.shape}."
    let mutable n =
        use n0 = Encoder.nodes m.Encoder g theta
        Encoder.nodeTime m.Encoder c.Time t n0
    let mutable e =
        use e0 = match c.Neighbourhood with Sparse -> Encoder.edges m.Encoder g theta | Dense -> Encoder.denseEdges m.Encoder g theta
        Encoder.edgeTime m.Encoder c.Time t e0
    for block in m.Blocks do
        let n', e' = Block.apply c block g n e
        n.Dispose(); e.Dispose()
        n <- n'; e <- e'
    use edgeRows =
        match c.Neighbourhood with
        | Sparse -> e.alias()
        | Dense ->
            use pairs = NeuralGraph.pairIndex g
            use flat = e.view(e.shape[0], -1L, e.shape[3])
            flat.index_select(1L, pairs)
    let out = Heads.apply m.Heads g edgeRows n
    n.Dispose(); e.Dispose()
    match m.RowTerm with
    | None -> out
    | Some r ->
        use _ = out
        use rows = NeuronRowLinear.apply r g.Layout t theta
        out + rows

/// Forward multiply-add FLOPs (2 per multiply-add) of one batch as float32 CPU tensors run it: every Linear plus the
/// attention's score and value products, with the sparse edge projections counted as the factored form computes them
/// where it runs (EdgeAttention.usesFactored: u = A e and me per edge row, three De·H products per node, the
/// De·De scores) and as four De -> H products elsewhere. Elementwise work, LayerNorm and softmax are not counted.
/// Training (forward + backward) is about 3x.
let flops (c: Config) (g: NeuralGraph) (batch: int) : float =
    let n, e = float g.NodeCount, float g.EdgeCount
    let nonInput = n - float g.Layout.Widths[0]
    let pairs = match c.Neighbourhood with Sparse -> 2.0 * e + n | Dense -> n * n
    let edgeRows = match c.Neighbourhood with Sparse -> e | Dense -> n * n
    let dn, de, h = float c.NodeWidth, float c.EdgeWidth, float c.AttentionWidth
    let eh, nh, oh = float c.EdgeHidden, float c.NodeHidden, float c.OutputHidden
    let wn, we = match c.Time with Channel -> dn - 1.0, de - 1.0 | Fourier _ -> dn, de
    let inputMlp w = w + float (c.InputLayers - 1) * w * w + w * w
    let encoder = n * inputMlp wn + e * inputMlp we
    let headCount = float c.Heads
    let factored =
        c.Neighbourhood = Sparse
        && EdgeAttention.usesFactored torch.float32 DeviceType.CPU (int64 c.Heads) (int64 (c.AttentionWidth / c.Heads)) (int64 c.EdgeWidth)
    // edge projections per edge row and the factored form's per-node products (Wkᵀq, Wqᵀk, Wv ebar) and score terms
    let projection, nodeExtra, pairExtra =
        if factored then headCount * de * de + h * de, 3.0 * h * de, headCount * de
        else 4.0 * h * de, 0.0, 0.0
    let pairing = match c.Pairing with Sum -> 2.0 | SumAndProduct -> 4.0
    let perLayer =
        n * (3.0 * h * dn + h * dn + dn * dn + 2.0 * dn * nh + pairing * dn * eh + nodeExtra)
        + edgeRows * (projection + (match c.Neighbourhood with Sparse -> 1.0 | Dense -> 2.0) * de * eh + eh * de + 2.0 * de * eh)
        + pairs * (2.0 * h + 2.0 * pairExtra)
    let heads = e * (de * oh + oh * oh + oh) + nonInput * (dn * oh + oh * oh + oh)
    let rowTerm = match c.NeuronRows with NoRowTerm -> 0.0 | SharedLowRank r -> NeuronRowLinear.flops r g.Layout batch
    2.0 * float batch * (encoder + float c.Layers * perLayer + heads) + rowTerm
