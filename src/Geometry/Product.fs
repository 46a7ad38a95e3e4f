/// Product manifolds over segments of the flat [B, P] vector (STYLE §8.3), and the same manifold over a reordering of
/// the coordinates. The weight-space product of an MLP layout is built from these in `WeightSpace`.
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
