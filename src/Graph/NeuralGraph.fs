/// An MLP architecture as a neural graph (anchors §2; Kofinas et al. 2024): nodes are all neurons, inputs included,
/// in layer order; edges are weights, pointing forward. The structure depends only on the architecture, so it is
/// built once and shared by every network of a batch (ARCHITECTURE decision 4); features are [B, nodes, d] and
/// [B, edges, d].
///
/// Edge order is the flat order of Layout.fs: the edges of layer l, (in, out) row-major, then layer l+1. This equals
/// the anchor's `edge_index` order, so `edge outputs ++ non-input node outputs` *is* the flat weight vector, and
/// the edges of layer l form one complete bipartite block [in_l, out_l] that a reshape exposes (EdgeAttention and
/// Pna reduce over these blocks instead of scattering).
namespace WeightFlow

open System
open TorchSharp

/// The graph of one MLP architecture. Owns its index tensors (dispose when the architecture is no longer used).
[<NoEquality; NoComparison>]
type NeuralGraph =
    { Layout: Layout
      /// N = Σ widths.
      NodeCount: int
      /// E = Σ in_l·out_l.
      EdgeCount: int
      /// Offset of layer k's neurons among the nodes, k = 0..L (length L+2; the last entry is N).
      NodeOffsets: int[]
      /// Offset of weight layer l's edges, l = 0..L-1 (length L+1; the last entry is E).
      EdgeOffsets: int[]
      /// Source node of every edge: [E] int64.
      Src: Tensor
      /// Target node of every edge: [E] int64.
      Dst: Tensor
      /// Layer of every node (0 = inputs): [N] int64.
      LayerIds: Tensor
      /// Positional id of every node: [N] int64. Each input and each output neuron has its own id; all neurons of
      /// one hidden layer share one id, which keeps hidden-neuron permutation equivariance and lets a model trained
      /// on one hidden width run on another (anchors §3.1).
      PositionIds: Tensor
      /// Number of distinct positional ids: d0 + (number of hidden layers) + C (795 for 784-10-10).
      PositionCount: int
      Device: Device }
    interface IDisposable with
        member g.Dispose() =
            for t in [ g.Src; g.Dst; g.LayerIds; g.PositionIds ] do t.Dispose()

[<RequireQualifiedAccess>]
module NeuralGraph =
    /// Number of positional ids of a layout: d0 + hidden layers + C.
    let positionCount (layout: Layout) =
        let w = layout.Widths
        w[0] + (w.Length - 2) + w[w.Length - 1]

    /// Builds the graph of an architecture on a device. Call once per architecture.
    let create (device: Device) (layout: Layout) : NeuralGraph =
        let w = layout.Widths
        let depth = Layout.depth layout
        let nodeOffsets = Array.scan (+) 0 w
        let edgeOffsets = Array.init (depth + 1) (fun l -> Layout.weightOffset layout l)
        let n, e = nodeOffsets[depth + 1], edgeOffsets[depth]
        let src = Array.zeroCreate<int> e
        let dst = Array.zeroCreate<int> e
        for l in 0 .. depth - 1 do
            let fin, fout = w[l], w[l + 1]
            for a in 0 .. fin - 1 do
                for b in 0 .. fout - 1 do
                    let k = edgeOffsets[l] + a * fout + b
                    src[k] <- nodeOffsets[l] + a
                    dst[k] <- nodeOffsets[l + 1] + b
        let layerIds = Array.init w.Length (fun k -> Array.create w[k] k) |> Array.concat
        let hiddenCount = w.Length - 2
        let positions =
            [| yield! Array.init w[0] id
               for k in 1 .. hiddenCount do yield! Array.create w[k] (w[0] + k - 1)
               yield! Array.init w[depth] (fun c -> w[0] + hiddenCount + c) |]
        { Layout = layout
          NodeCount = n
          EdgeCount = e
          NodeOffsets = nodeOffsets
          EdgeOffsets = edgeOffsets
          Src = T.ofIndex device src
          Dst = T.ofIndex device dst
          LayerIds = T.ofIndex device layerIds
          PositionIds = T.ofIndex device positions
          PositionCount = positionCount layout
          Device = device }

    let private checkFlat (g: NeuralGraph) (theta: Tensor) =
        let p = Layout.paramCount g.Layout
        if theta.dim() <> 2L || int theta.shape[1] <> p then
            invalidArg "theta" $"Flat weights of a {g.Layout} MLP must have shape [B, {p}] but have %A{theta.shape}; build the graph for the architecture the weights belong to."

    /// Edge values: the weights, [B, E] (a view of theta; edges are in flat order).
    let edgeValues (g: NeuralGraph) (theta: Tensor) : Tensor =
        checkFlat g theta
        theta.narrow(1L, 0L, int64 g.EdgeCount)

    /// Node values: 0 for input neurons, the bias for every other neuron, [B, N] (anchors §2).
    let nodeValues (g: NeuralGraph) (theta: Tensor) : Tensor =
        checkFlat g theta
        let d0 = int64 g.Layout.Widths[0]
        use zeros = torch.zeros([| theta.shape[0]; d0 |], dtype = theta.dtype, device = theta.device)
        torch.cat([| zeros; theta.narrow(1L, int64 g.EdgeCount, int64 g.NodeCount - d0) |], 1L)

    /// Flat vector [B, P] from one value per edge [B, E] and one per node [B, N] (input nodes' values are dropped).
    /// Inverse of (edgeValues, nodeValues), exactly.
    let toFlat (g: NeuralGraph) (edgeOut: Tensor) (nodeOut: Tensor) : Tensor =
        let d0 = int64 g.Layout.Widths[0]
        torch.cat([| edgeOut; nodeOut.narrow(1L, d0, int64 g.NodeCount - d0) |], 1L)

    /// Index of each edge's (source, target) pair in a row-major N×N pair tensor: [E] int64.
    let pairIndex (g: NeuralGraph) : Tensor = g.Src * int64 g.NodeCount + g.Dst

    /// The sparse attention neighbourhood as a dense [N, N] bool mask: node i sees j iff i -> j, j -> i or i = j.
    let neighbourhoodMask (g: NeuralGraph) : Tensor =
        let n = int64 g.NodeCount
        let m = torch.eye(n, dtype = torch.ScalarType.Bool, device = g.Device)
        use pairs = pairIndex g
        use rev = g.Dst * n + g.Src
        use flat = m.view(n * n)
        use t = torch.ones([| int64 g.EdgeCount |], dtype = torch.ScalarType.Bool, device = g.Device)
        flat.index_put_(t, pairs).index_put_(t, rev) |> ignore
        m

    /// In-degree of every node: [N] (0 for inputs, in_l for the neurons of layer l+1).
    let inDegrees (g: NeuralGraph) : int[] =
        let w = g.Layout.Widths
        Array.init w.Length (fun k -> Array.create w[k] (if k = 0 then 0 else w[k - 1])) |> Array.concat
