/// Product manifolds over segments of the flat [B, P] vector (STYLE §8.3), and the weight-space product of an MLP
/// layout after canonicalization (thesis ch. 4, anchors §4-5): each hidden neuron's incoming weights on their own
/// sphere, the last layer's weights on one sphere, biases Euclidean.
[<RequireQualifiedAccess>]
module WeightFlow.Product

open TorchSharp

/// The product of manifolds over consecutive segments of the flat vector: segment i owns coordinates
/// [offset_i, offset_i + Dim_i). Point and vector operations act per segment on `narrow` views and concatenate;
/// Inner sums the segments' inner products; Dist and Violation are the root sum of squares of the segments' values
/// (the product metric).
let create (segments: Manifold list) : Manifold =
    if List.isEmpty segments then invalidArg "segments" "A product manifold needs at least one segment; pass e.g. [ Sphere.create 4 3; Manifold.euclidean 5 ]."
    let segs = Array.ofList segments
    let offsets = Array.scan (fun o (m: Manifold) -> o + m.Dim) 0 segs
    let dim = offsets[segs.Length]
    let part (i: int) (x: Tensor) = x.narrow(1L, int64 offsets[i], int64 segs[i].Dim)
    let each (f: int -> Manifold -> Tensor) = torch.cat([| for i in 0 .. segs.Length - 1 -> f i segs[i] |], 1L)
    let scalars (f: int -> Manifold -> Tensor) = torch.stack([| for i in 0 .. segs.Length - 1 -> f i segs[i] |], 1L)
    let name = "Product(" + (segs |> Array.map (fun m -> m.Name) |> String.concat " × ") + ")"
    { Name = name
      Dim = dim
      Projx = fun x -> each (fun i m -> m.Projx (part i x))
      Proju = fun x u -> each (fun i m -> m.Proju (part i x) (part i u))
      Expmap = fun x u -> each (fun i m -> m.Expmap (part i x) (part i u))
      Retr = fun x u -> each (fun i m -> m.Retr (part i x) (part i u))
      Logmap = fun x y -> each (fun i m -> m.Logmap (part i x) (part i y))
      Transp = fun x y v -> each (fun i m -> m.Transp (part i x) (part i y) (part i v))
      Inner = fun x u v -> (scalars (fun i m -> m.Inner (part i x) (part i u) (part i v))).sum(1L)
      Dist = fun x y -> Manifold.rowNorm (scalars (fun i m -> m.Dist (part i x) (part i y))) false
      Random = fun gen device b -> each (fun _ m -> m.Random gen device b)
      Violation = fun x -> Manifold.rowNorm (scalars (fun i m -> m.Violation (part i x))) false }

/// A manifold over the flat vector whose coordinates are those of `m` in another order: position i of m's
/// coordinates is flat coordinate `order[i]`. Each operation gathers (index_select by `order`), applies m and
/// scatters back (index_select by the inverse permutation); both are differentiable. Index tensors are built once
/// per device and kept outside any dispose scope.
let reindexed (name: string) (order: int[]) (m: Manifold) : Manifold =
    if order.Length <> m.Dim || (Array.sort order) <> Array.init m.Dim id then
        invalidArg "order" $"The coordinate order for {m.Name} must be a permutation of 0..{m.Dim - 1}; got {order.Length} indices."
    let inverse = Array.zeroCreate order.Length
    order |> Array.iteri (fun i o -> inverse[o] <- i)
    let cached (idx: int[]) =
        let cache = System.Collections.Concurrent.ConcurrentDictionary<string, Tensor>()
        fun (device: Device) -> cache.GetOrAdd(device.ToString(), fun _ -> (T.ofIndex device idx).DetachFromDisposeScope())
    let orderOn = cached order
    let inverseOn = cached inverse
    let gather (x: Tensor) = x.index_select(1L, orderOn x.device)
    let scatter (y: Tensor) = y.index_select(1L, inverseOn y.device)
    { Name = name
      Dim = m.Dim
      Projx = fun x -> scatter (m.Projx (gather x))
      Proju = fun x u -> scatter (m.Proju (gather x) (gather u))
      Expmap = fun x u -> scatter (m.Expmap (gather x) (gather u))
      Retr = fun x u -> scatter (m.Retr (gather x) (gather u))
      Logmap = fun x y -> scatter (m.Logmap (gather x) (gather y))
      Transp = fun x y v -> scatter (m.Transp (gather x) (gather y) (gather v))
      Inner = fun x u v -> m.Inner (gather x) (gather u) (gather v)
      Dist = fun x y -> m.Dist (gather x) (gather y)
      Random = fun gen device b -> scatter (m.Random gen device b)
      Violation = fun x -> m.Violation (gather x) }

/// The grouped coordinate order of a layout's flat vector (Layout.fs: all Wᵀ (in, out) row-major, then biases):
/// 1. for each hidden layer l (all but the last) and each of its neurons k in order, the neuron's incoming weights
///    Wᵀ_l[:, k], i.e. flat `weightOffset l + a·out_l + k` for a = 0..in_l-1 (a strided column of the block);
/// 2. the last layer's weights in flat order (in_L·C coordinates);
/// 3. all biases in flat order.
/// `order[i]` is the flat coordinate at grouped position i.
let groupedOrder (layout: Layout) : int[] =
    let depth = Layout.depth layout
    [| for l in 0 .. depth - 2 do
           let fin, fout = Layout.dims layout l
           let off = Layout.weightOffset layout l
           for k in 0 .. fout - 1 do
               for a in 0 .. fin - 1 -> off + a * fout + k
       let fin, fout = Layout.dims layout (depth - 1)
       let off = Layout.weightOffset layout (depth - 1)
       yield! [| off .. off + fin * fout - 1 |]
       yield! [| Layout.weightCount layout .. Layout.paramCount layout - 1 |] |]

/// The factors of the weight-space product in grouped order (see `groupedOrder`): `Sphere.create out_l in_l` per
/// hidden layer (one S^{in_l - 1} per neuron), one sphere of radius `lastRadius` for the last layer's in_L·C
/// weights (weights only, anchors §4-5), and `Manifold.euclidean biasCount` for the biases.
let layoutSegments (lastRadius: float) (layout: Layout) : Manifold list =
    let depth = Layout.depth layout
    [ for l in 0 .. depth - 2 do
          let fin, fout = Layout.dims layout l
          Sphere.create fout fin
      let fin, fout = Layout.dims layout (depth - 1)
      Sphere.createWithRadius 1 (fin * fout) lastRadius
      Manifold.euclidean (Layout.biasCount layout) ]

/// The manifold of canonicalized weights of a layout (the Geometric flow's space, thesis ch. 4) over the flat
/// [B, P] vector, with the last layer's weights on a sphere of radius `lastRadius`: 1 as in the thesis code, or
/// √C as in the thesis background chapter (anchors P9); it must match the canonicalization's target norm. A hidden
/// neuron with a single input lies on S^0 = {-1, +1}: its sign cannot change along any geodesic.
let ofLayoutWithRadius (lastRadius: float) (layout: Layout) : Manifold =
    let m = create (layoutSegments lastRadius layout)
    reindexed $"WeightSpace({layout}, {m.Name})" (groupedOrder layout) m

/// `ofLayoutWithRadius 1.0`: the last layer on the unit sphere, as in the thesis code (anchors §4).
let ofLayout (layout: Layout) : Manifold = ofLayoutWithRadius 1.0 layout
