/// The weight space of an MLP layout after canonicalization (thesis ch. 4, anchors §4-5) as a product manifold: each
/// hidden neuron's incoming weights on their own sphere, the last layer's weights on one sphere, biases Euclidean. The
/// manifold acts on the flat [B, P] vector in Layout.fs order; `groupedOrder` maps it onto the product's segments.
[<RequireQualifiedAccess>]
module WeightFlow.WeightSpace

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
let segments (lastRadius: float) (layout: Layout) : Manifold list =
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
    let m = Product.create (segments lastRadius layout)
    Product.reindexed $"WeightSpace({layout}, {m.Name})" (groupedOrder layout) m

/// `ofLayoutWithRadius 1.0`: the last layer on the unit sphere, as in the thesis code (anchors §4).
let ofLayout (layout: Layout) : Manifold = ofLayoutWithRadius 1.0 layout
