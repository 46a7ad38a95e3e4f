/// The parts the graph velocity models share (the Relational Transformer and PNA, anchors §3.1, §3.2, §3.4): how
/// the flow time t enters, the graph encoder (a scalar per weight and per neuron -> features, positional
/// embeddings, time) and the output heads (features -> one value per weight and bias, in flat order).
module WeightFlow.GraphEncoding

open TorchSharp
open TorchSharp.Modules
open WeightFlow.Layers

type private F = torch.nn.functional

/// How the flow time t enters the model.
type TimeConditioning =
    /// The thesis (§3.2 of the anchors): t appended as one extra channel to every node and every edge feature, so
    /// the input projections have width NodeWidth - 1 and EdgeWidth - 1. We follow the thesis text, not the anchor
    /// code, which overwrites the channel with 1 on real edges and input nodes (anchors P3): a real edge should
    /// know the time. Used for parity with the anchor's parameter count.
    | Channel
    /// The default: fixed Fourier features of t (FourierTime, `frequencies` octaves) mapped by one learned Linear per
    /// feature kind and added to every node and edge feature after the input projection. A raw scalar channel is one
    /// of 33 inputs to the first attention and is easily drowned by LayerNorm; sin/cos features at several
    /// frequencies give the model a rich, well-scaled time signal (as diffusion and flow models do) at the cost of
    /// one broadcast add per feature tensor and no concatenation on the E edge rows.
    | Fourier of frequencies: int


/// Input projections (anchors §3.1): a scalar per weight and per neuron -> features; positional embeddings on nodes;
/// time conditioning.
[<NoEquality; NoComparison>]
type Encoder =
    { NodeIn: Chain
      NodeProj: Linear
      EdgeIn: Chain
      EdgeProj: Linear
      /// [positions, width] ~ N(0, 1), added to node features.
      Position: Parameter option
      TimeNode: Linear option
      TimeEdge: Linear option }

[<RequireQualifiedAccess>]
module Encoder =
    let private inWidths (time: TimeConditioning) (nodeWidth: int) (edgeWidth: int) =
        match time with
        | Channel -> nodeWidth - 1, edgeWidth - 1
        | Fourier _ -> nodeWidth, edgeWidth

    let init gen device (time: TimeConditioning) (inputLayers: int) (positional: bool) (positions: int) (nodeWidth: int) (edgeWidth: int) : Encoder =
        let wn, we = inWidths time nodeWidth edgeWidth
        let mlp w = Chain.init gen device TorchDefault Silu (1 :: List.replicate inputLayers w)
        let nodeIn = mlp wn
        let nodeProj = Linear.init gen device TorchDefault true wn wn
        let edgeIn = mlp we
        let edgeProj = Linear.init gen device TorchDefault true we we
        { NodeIn = nodeIn; NodeProj = nodeProj; EdgeIn = edgeIn; EdgeProj = edgeProj
          Position = if positional then Some (Params.normal gen device [ positions; wn ] 1.0) else None
          TimeNode = (match time with Fourier k -> Some (Linear.init gen device TorchDefault true (FourierTime.width k) nodeWidth) | Channel -> None)
          TimeEdge = (match time with Fourier k -> Some (Linear.init gen device TorchDefault true (FourierTime.width k) edgeWidth) | Channel -> None) }

    let parameters (p: Encoder) : Params.Named =
        [ yield! Params.under "node_in" (Chain.parameters p.NodeIn)
          yield! Params.under "node_proj" (Linear.parameters p.NodeProj)
          yield! Params.under "edge_in" (Chain.parameters p.EdgeIn)
          yield! Params.under "edge_proj" (Linear.parameters p.EdgeProj)
          match p.Position with Some pos -> yield "position", pos | None -> ()
          match p.TimeNode with Some l -> yield! Params.under "time_node" (Linear.parameters l) | None -> ()
          match p.TimeEdge with Some l -> yield! Params.under "time_edge" (Linear.parameters l) | None -> () ]

    /// chain then proj. The last Linear of the chain and proj have no activation between them, so they are applied
    /// as one Linear with weight W_p·W_l and bias W_p·b_l + b_p (the same function and parameters, one pass fewer
    /// over the E edge rows).
    let private project (chain: Chain) (proj: Linear) (values: Tensor) =
        use v = values.unsqueeze(-1L)
        let last = List.last chain.Linears
        use h =
            match chain.Linears.Length with
            | 1 -> v.alias()
            | k ->
                use pre = Chain.apply { chain with Linears = List.take (k - 1) chain.Linears } v
                Activation.apply chain.Activation pre
        use w = proj.Weight.matmul(last.Weight)
        use b0 = proj.Weight.matmul(last.Bias.Value)
        use b = b0 + proj.Bias.Value
        F.linear(h, w, b)

    /// Node features before time: [B, N, wn].
    let nodes (p: Encoder) (g: NeuralGraph) (theta: Tensor) : Tensor =
        use values = NeuralGraph.nodeValues g theta
        let h = project p.NodeIn p.NodeProj values
        match p.Position with
        | Some pos ->
            if int pos.shape[0] <> g.PositionCount then
                invalidArg "graph" $"The model has {pos.shape[0]} positional embeddings but a {g.Layout} network has {g.PositionCount} positions (inputs + hidden layers + outputs); models transfer only across hidden widths, not across input/output widths or depth."
            use rows = pos.index_select(0L, g.PositionIds)
            use _ = h
            h + rows
        | None -> h

    /// Edge features of the real edges before time: [B, E, we].
    let edges (p: Encoder) (g: NeuralGraph) (theta: Tensor) : Tensor =
        project p.EdgeIn p.EdgeProj (NeuralGraph.edgeValues g theta)

    /// Dense edge features before time: [B, N, N, we]; real edges at (src, dst), proj(0) at every other pair
    /// (anchors §3.1). The projection runs on the E real values and once on 0, then fills the pair tensor.
    let denseEdges (p: Encoder) (g: NeuralGraph) (theta: Tensor) : Tensor =
        use real = edges p g theta
        let b, n = real.shape[0], int64 g.NodeCount
        use zero = torch.zeros([| 1L; 1L |], dtype = real.dtype, device = real.device)
        use z = project p.EdgeIn p.EdgeProj zero
        use filled = z.expand(b, n * n, -1L).contiguous()
        use pairs = NeuralGraph.pairIndex g
        use full = filled.index_copy(1L, pairs, real)
        full.view(b, n, n, -1L)

    /// Adds the time to features x [B, ..., w] through `timeLinear` (the node's or the edge's Fourier map).
    let private addTime (timeLinear: Linear option) (time: TimeConditioning) (t: Tensor) (x: Tensor) : Tensor =
        let b = x.shape[0]
        let broadcastShape = Array.append [| b |] (Array.create (int (x.dim()) - 1) 1L)
        match time with
        | Channel ->
            let shape = Array.append (x.shape[.. x.shape.Length - 2]) [| 1L |]
            use tt = t.to_type(x.dtype).view(broadcastShape).expand(shape)
            torch.cat([| x; tt |], -1L)
        | Fourier k ->
            use phi = FourierTime.apply k t
            use emb = Linear.apply timeLinear.Value phi
            use embB = emb.view(Array.append broadcastShape.[.. broadcastShape.Length - 2] [| -1L |])
            x + embB

    /// Adds the time to node features [B, N, w].
    let nodeTime (p: Encoder) (time: TimeConditioning) (t: Tensor) (x: Tensor) : Tensor = addTime p.TimeNode time t x

    /// Adds the time to edge features [B, E, w] or [B, N, N, w].
    let edgeTime (p: Encoder) (time: TimeConditioning) (t: Tensor) (x: Tensor) : Tensor = addTime p.TimeEdge time t x

/// Output heads (anchors §3.4): Linear ReLU Linear ReLU Linear(-> 1), one value per edge and per non-input node.
[<NoEquality; NoComparison>]
type Heads = { Edge: Chain; Node: Chain }

[<RequireQualifiedAccess>]
module Heads =
    let init gen device (nodeWidth: int) (edgeWidth: int) (hidden: int) : Heads =
        { Edge = Chain.init gen device TorchDefault Relu [ edgeWidth; hidden; hidden; 1 ]
          Node = Chain.init gen device TorchDefault Relu [ nodeWidth; hidden; hidden; 1 ] }

    let parameters (p: Heads) : Params.Named =
        Params.under "edge" (Chain.parameters p.Edge) @ Params.under "node" (Chain.parameters p.Node)

    /// Flat outputs [B, P] from edge features [B, E, De] and node features [B, N, Dn].
    let apply (p: Heads) (g: NeuralGraph) (edges: Tensor) (nodes: Tensor) : Tensor =
        let d0 = int64 g.Layout.Widths[0]
        use eo = Chain.apply p.Edge edges
        use hidden = nodes.narrow(1L, d0, int64 g.NodeCount - d0)
        use no = Chain.apply p.Node hidden
        torch.cat([| eo.squeeze(-1L); no.squeeze(-1L) |], 1L)
