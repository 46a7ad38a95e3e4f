/// Principal Neighbourhood Aggregation with edge updates (Corso et al. 2020; the neural-graphs / weightflow
/// `gnn.py` variant, anchors §3.7), the alternative velocity model the thesis compared with the RT.
///
/// Messages follow the edges forward (source -> target); a target aggregates its incoming messages with mean, min,
/// max and std, each under the identity and the amplification scaler log(deg + 1)/δ; input neurons receive nothing
/// (their aggregates are 0). Messages are FiLM-modulated by the edge: msg = scale(e) ⊙ pre([x_i; x_j]) + shift(e).
/// Between convolutions: LayerNorm then SiLU, and the edge update e <- lin1(SiLU(lin_e e + lin_s x_src + lin_t x_dst))
/// (no residual, no norm, not after the last convolution).
///
/// Deviation, deliberate: the anchor's LayerNorm is PyG's graph-mode norm called without a batch vector, which
/// standardizes over every node of the whole mini-batch at once and so couples the networks of a batch (anchors
/// P16). Here LayerNorm is per node, so each network's output depends on that network alone.
///
/// Aggregation uses the layered structure (a target's incoming edges are one column of its block [in_l, out_l]), so
/// every aggregator is a reduction over one dimension: no scatter.
[<RequireQualifiedAccess>]
module WeightFlow.Pna

open TorchSharp
open WeightFlow.Layers

module GE = GraphEncoding

type private F = torch.nn.functional

type Config =
    { /// F: node and edge feature width.
      Width: int
      OutputHidden: int
      Layers: int
      InputLayers: int
      Time: GE.TimeConditioning
      PositionalEmbedding: bool }

[<RequireQualifiedAccess>]
module Config =
    /// The anchor configuration: width d_E + 1 with t as a channel, heads of width d_E + 1.
    let anchor (dE: int) (layers: int) : Config =
        { Width = dE + 1; OutputHidden = dE + 1; Layers = layers; InputLayers = 3; Time = GE.Channel; PositionalEmbedding = true }

    /// This project's default at width d (Fourier time, as the RT's default).
    let defaults (d: int) (layers: int) : Config =
        { Width = d; OutputHidden = d; Layers = layers; InputLayers = 3; Time = GE.Fourier 8; PositionalEmbedding = true }

[<NoEquality; NoComparison>]
type Conv =
    { /// F -> 2F: FiLM scale and shift from the edge.
      EdgeFilm: Linear
      /// 2F -> F on [x_target; x_source] (PyG's `pre`).
      Pre: Linear
      /// 9F -> F on [x; 4 aggregators × 2 scalers] (PyG's `post`).
      Post: Linear
      Lin: Linear }

[<NoEquality; NoComparison>]
type EdgeUpdate = { FromEdge: Linear; FromSource: Linear; FromTarget: Linear; Out: Linear }

[<NoEquality; NoComparison>]
type Model =
    { Config: Config
      Encoder: GE.Encoder
      Convs: Conv list
      Norms: LayerNorm list
      EdgeUpdates: EdgeUpdate list
      Heads: GE.Heads
      /// δ: the mean of log(in-degree + 1) over the nodes of the layout the model was built for (PyG's `deg`
      /// histogram). A constant of the model, not a parameter.
      AvgLogDegree: float }

let private aggregators = 4
let private scalers = 2

/// Builds a PNA for networks with the positional structure of `layout`.
let init (gen: torch.Generator) (device: Device) (c: Config) (layout: Layout) : Model =
    let f = c.Width
    for name, v in [ "Width", c.Width; "Layers", c.Layers; "OutputHidden", c.OutputHidden; "InputLayers", c.InputLayers ] do
        Check.arg "config" (v >= 1) $"{name} must be at least 1 but is {v}."
    let lin i o = Linear.init gen device TorchDefault true i o
    let degrees = use g = NeuralGraph.create torch.CPU layout in NeuralGraph.inDegrees g
    { Config = c
      Encoder = GE.Encoder.init gen device c.Time c.InputLayers c.PositionalEmbedding (NeuralGraph.positionCount layout) f f
      Convs = List.init c.Layers (fun _ ->
          { EdgeFilm = lin f (2 * f); Pre = lin (2 * f) f; Post = lin ((1 + aggregators * scalers) * f) f; Lin = lin f f })
      Norms = List.init (c.Layers - 1) (fun _ -> LayerNorm.init device f)
      EdgeUpdates = List.init (c.Layers - 1) (fun _ ->
          { FromEdge = lin f f; FromSource = lin f f; FromTarget = lin f f; Out = lin f f })
      Heads = GE.Heads.init gen device f f c.OutputHidden
      AvgLogDegree = degrees |> Array.averageBy (fun d -> log (float d + 1.0)) }

/// Every parameter under its stable dotted name.
let parameters (m: Model) : Params.Named =
    [ yield! Params.under "encoder" (GE.Encoder.parameters m.Encoder)
      for i, c in List.indexed m.Convs do
          yield! Params.under $"convs.{i}.edge_film" (Linear.parameters c.EdgeFilm)
          yield! Params.under $"convs.{i}.pre" (Linear.parameters c.Pre)
          yield! Params.under $"convs.{i}.post" (Linear.parameters c.Post)
          yield! Params.under $"convs.{i}.lin" (Linear.parameters c.Lin)
      for i, n in List.indexed m.Norms do yield! Params.under $"norms.{i}" (LayerNorm.parameters n)
      for i, u in List.indexed m.EdgeUpdates do
          yield! Params.under $"edge_updates.{i}.from_edge" (Linear.parameters u.FromEdge)
          yield! Params.under $"edge_updates.{i}.from_source" (Linear.parameters u.FromSource)
          yield! Params.under $"edge_updates.{i}.from_target" (Linear.parameters u.FromTarget)
          yield! Params.under $"edge_updates.{i}.out" (Linear.parameters u.Out)
      yield! Params.under "heads" (GE.Heads.parameters m.Heads) ]

/// One PNA convolution: nodes [B, N, F], edges [B, E, F] -> nodes [B, N, F].
let private conv (m: Model) (p: Conv) (g: NeuralGraph) (x: Tensor) (e: Tensor) : Tensor =
    let f = int64 m.Config.Width
    let b = x.shape[0]
    let w = g.Layout.Widths |> Array.map int64
    let depth = w.Length - 1
    let layer (t: Tensor) k = t.narrow(1L, int64 g.NodeOffsets[k], w[k])
    use film = Linear.apply p.EdgeFilm e
    use wt = p.Pre.Weight.narrow(1L, 0L, f)
    use ws = p.Pre.Weight.narrow(1L, f, f)
    use preT = F.linear(x, wt, p.Pre.Bias.Value)
    use preS = F.linear(x, ws)
    let aggregated =
        [ for l in 0 .. depth - 1 ->
            use fb = film.narrow(1L, int64 g.EdgeOffsets[l], w[l] * w[l + 1]).view(b, w[l], w[l + 1], 2L * f)
            use scale = fb.narrow(3L, 0L, f)
            use shift = fb.narrow(3L, f, f)
            use pre = (layer preS l).unsqueeze(2L) + (layer preT (l + 1)).unsqueeze(1L)
            use msg = torch.addcmul(shift, scale, pre, scalar 1.0)
            // aggregate over the sources (dim 1) at each target of layer l+1
            use mean = msg.mean([| 1L |])
            use sq = msg * msg
            use meanSq = sq.mean([| 1L |])
            use var = meanSq - mean * mean
            use std = var.clamp_min(scalar 1e-5).sqrt()
            use mn = msg.amin([| 1L |])
            use mx = msg.amax([| 1L |])
            use agg = torch.cat([| mean; mn; mx; std |], -1L)
            let amp = log (float w[l] + 1.0) / m.AvgLogDegree
            torch.cat([| agg; agg.mul(scalar amp) |], -1L) ]
    use none = torch.zeros([| b; w[0]; int64 (aggregators * scalers) * f |], dtype = x.dtype, device = x.device)
    use all = torch.cat(Array.ofList (none :: aggregated), 1L)
    for a in aggregated do a.Dispose()
    use cat = torch.cat([| x; all |], -1L)
    use post = Linear.apply p.Post cat
    Linear.apply p.Lin post

let private updateEdges (u: EdgeUpdate) (g: NeuralGraph) (x: Tensor) (e: Tensor) : Tensor =
    use s = Linear.apply u.FromSource x
    use t = Linear.apply u.FromTarget x
    use h0 = Linear.apply u.FromEdge e
    use sG = s.index_select(1L, g.Src)
    use tG = t.index_select(1L, g.Dst)
    use h1 = h0 + sG
    use h2 = h1 + tG
    use a = F.silu h2
    Linear.apply u.Out a

/// One value per weight and bias: t [B], theta [B, P] -> [B, P].
let apply (m: Model) (g: NeuralGraph) (t: Tensor) (theta: Tensor) : Tensor =
    let c = m.Config
    if t.dim() <> 1L || t.shape[0] <> theta.shape[0] then
        invalidArg "t" $"t must have shape [B] = [{theta.shape[0]}] (one time per network) but has %A{t.shape}."
    let mutable x =
        use x0 = GE.Encoder.nodes m.Encoder g theta
        GE.Encoder.nodeTime m.Encoder c.Time t x0
    let mutable e =
        use e0 = GE.Encoder.edges m.Encoder g theta
        GE.Encoder.edgeTime m.Encoder c.Time t e0
    m.Convs |> List.iteri (fun i p ->
        let x1 = conv m p g x e
        x.Dispose()
        if i < c.Layers - 1 then
            use normed = LayerNorm.apply m.Norms[i] x1
            x1.Dispose()
            x <- F.silu normed
            let e1 = updateEdges m.EdgeUpdates[i] g x e
            e.Dispose()
            e <- e1
        else x <- x1)
    let out = GE.Heads.apply m.Heads g e x
    x.Dispose(); e.Dispose()
    out
