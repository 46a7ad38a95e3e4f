/// Attention whose queries, keys and values combine node and edge terms (Relational Transformer, anchors §3.3):
/// q_ij = q_i + qe_ij, k_ij = k_j + ke_ij, v_ij = v_j ⊙ me_ij + ve_ij, score_ij = ⟨q_ij, k_ij⟩ · scale, and
/// out_i = Σ_j softmax_j(score_ij) v_ij, per head.
///
/// `sparse` lets node i attend over its real neighbourhood: itself, its outgoing edges (i -> j) and its incoming edges
/// (j -> i). Each weight has one feature row, and that row serves both directions: for the outgoing pair (i, j) it is
/// e_ij, and for the incoming pair it is the feature of the same weight seen from its target (so e_ji := e_ij; the
/// query node's own terms tell the two directions apart, since q_i and k_j come from nodes of different layers).
/// The self pair has no edge: q_ii = q_i, k_ii = k_i, v_ii = v_i (qe = ke = ve = 0, me = 1).
///
/// For float32 CPU tensors `sparse` runs the fused kernel of EdgeAttentionKernel (one pass per direction); the rest of
/// this note describes the torch-operation path, `sparseOps`, its reference.
///
/// The softmax is numerically stable: each node's scores are shifted by that node's maximum. TorchSharp 0.107 has no
/// `scatter_reduce`, so the maximum and the sums use the graph's structure instead of scatters: the edges of weight
/// layer l are one complete bipartite block [in_l, out_l], so a node's outgoing scores are a row of its block and
/// its incoming scores a column, reduced with `amax`/`sum` over one dimension, with no gather, scatter or
/// `index_add` (which also makes the result deterministic).
///
/// `dense` is the anchors' attention over all N node pairs with a dense [B, N, N, h, dh] edge tensor, optionally
/// masked; it is the reference the sparse attention is tested against and the dense model variant's attention.
[<RequireQualifiedAccess>]
module WeightFlow.EdgeAttention

open TorchSharp

type private F = torch.nn.functional

/// Per-head node terms, each [B, N, heads, dh].
[<NoEquality; NoComparison>]
type NodeTerms = { Q: Tensor; K: Tensor; V: Tensor }

/// Per-head edge terms, each [B, E, heads, dh] (sparse, flat edge order) or [B, N, N, heads, dh] (dense).
[<NoEquality; NoComparison>]
type EdgeTerms = { Q: Tensor; K: Tensor; V: Tensor; M: Tensor }

/// Sparse attention over each node's incoming and outgoing edges and itself, in torch operations (the reference for
/// the fused kernel, and the path for float64, other devices, or where the kernel was not built). [B, N, heads, dh].
let sparseOps (g: NeuralGraph) (scale: float) (n: NodeTerms) (e: EdgeTerms) : Tensor =
    let b, h, dh = n.Q.shape[0], n.Q.shape[2], n.Q.shape[3]
    let w = g.Layout.Widths |> Array.map int64
    let depth = w.Length - 1
    // `split` (whose backward is one concatenation) rather than `narrow` per use (whose backward materializes a
    // zero gradient of the whole input each time).
    let layers (x: Tensor) = x.split(w, 1L)
    let blocks (x: Tensor) =
        x.split(Array.init depth (fun l -> w[l] * w[l + 1]), 1L) |> Array.mapi (fun l t -> t.view(b, w[l], w[l + 1], h, dh))
    let qN, kN, vN = layers n.Q, layers n.K, layers n.V
    let qE, kE, vE, mE = blocks e.Q, blocks e.K, blocks e.V, blocks e.M
    // Scores of the pairs (source -> target) seen from the source ("out") and from the target ("in"): [B, in, out, h].
    let scores =
        [ for l in 0 .. depth - 1 ->
            let qe, ke = qE[l], kE[l]
            use qS = qN[l].unsqueeze(2L)
            use kS = kN[l].unsqueeze(2L)
            use qT = qN[l + 1].unsqueeze(1L)
            use kT = kN[l + 1].unsqueeze(1L)
            let pair (q: Tensor) (k: Tensor) =
                use qq = q + qe
                use kk = k + ke
                use p = qq * kk
                use s = p.sum(-1L)
                s.mul(scalar scale)
            pair qS kT, pair qT kS ]
    use selfProduct = n.Q * n.K
    use selfSum = selfProduct.sum(-1L)
    use sSelf = selfSum.mul(scalar scale)
    // The per-node maximum only shifts each node's scores by a constant, so it carries no gradient.
    use m =
        use _ = torch.no_grad ()
        let selfLayers = layers sSelf
        use outMax = torch.cat([| for s, _ in scores -> s.amax([| 2L |])
                                  yield selfLayers[depth] |], 1L)
        use inMax = torch.cat([| yield selfLayers[0]
                                 for _, s in scores -> s.amax([| 1L |]) |], 1L)
        use m1 = torch.maximum(outMax, inMax)
        torch.maximum(m1, sSelf)
    let mN = layers m
    let parts =
        scores |> List.mapi (fun l (sOut, sIn) ->
            use mS = mN[l].unsqueeze(2L)
            use mT = mN[l + 1].unsqueeze(1L)
            use dOut = sOut - mS
            use dIn = sIn - mT
            sOut.Dispose(); sIn.Dispose()
            use eOut = dOut.exp()
            use eIn = dIn.exp()
            let ve, me = vE[l], mE[l]
            use vS = vN[l].unsqueeze(2L)
            use vT = vN[l + 1].unsqueeze(1L)
            use valOut = torch.addcmul(ve, vT, me, scalar 1.0)
            use valIn = torch.addcmul(ve, vS, me, scalar 1.0)
            use wOut = eOut.unsqueeze(-1L) * valOut
            use wIn = eIn.unsqueeze(-1L) * valIn
            // numerator and denominator of the out-pairs (per source node), then of the in-pairs (per target node)
            wOut.sum(2L), eOut.sum(2L), wIn.sum(1L), eIn.sum(1L))
    for x in Array.concat [ qN; kN; vN; qE; kE; vE; mE; mN ] do x.Dispose()
    let zeros (k: int) (shape: int64 list) = torch.zeros(List.toArray (b :: w[k] :: shape), dtype = n.Q.dtype, device = n.Q.device)
    use numOut = torch.cat([| for no, _, _, _ in parts -> no
                              yield zeros depth [ h; dh ] |], 1L)
    use denOut = torch.cat([| for _, d, _, _ in parts -> d
                              yield zeros depth [ h ] |], 1L)
    use numIn = torch.cat([| yield zeros 0 [ h; dh ]
                             for _, _, ni, _ in parts -> ni |], 1L)
    use denIn = torch.cat([| yield zeros 0 [ h ]
                             for _, _, _, d in parts -> d |], 1L)
    for a, b', c, d in parts do a.Dispose(); b'.Dispose(); c.Dispose(); d.Dispose()
    use dSelf = sSelf - m
    use eSelf = dSelf.exp()
    use den0 = eSelf + denOut
    use den = den0 + denIn
    use num0 = torch.addcmul(numOut, eSelf.unsqueeze(-1L), n.V, scalar 1.0)
    use num = num0 + numIn
    num / den.unsqueeze(-1L)

/// Sparse attention over each node's incoming and outgoing edges and itself: the fused kernel for float32 CPU
/// tensors where it is available (EdgeAttentionKernel), else `sparseOps`. Returns [B, N, heads, dh].
let sparse (g: NeuralGraph) (scale: float) (n: NodeTerms) (e: EdgeTerms) : Tensor =
    if n.Q.dtype = torch.float32 && n.Q.device_type = DeviceType.CPU && EdgeAttentionKernel.enabled () then
        EdgeAttentionKernel.sparse g scale n.Q n.K n.V e.Q e.K e.V e.M
    else sparseOps g scale n e

/// Dense attention over all node pairs: node terms [B, N, h, dh], edge terms [B, N, N, h, dh] (row i holds e_ij).
/// With a mask ([N, N] bool, true = attend), the softmax runs over the masked-in pairs only. Returns [B, N, h, dh].
let dense (mask: Tensor option) (scale: float) (n: NodeTerms) (e: EdgeTerms) : Tensor =
    use qq = n.Q.unsqueeze(2L) + e.Q
    use kk = n.K.unsqueeze(1L) + e.K
    use p = qq * kk
    use s0 = p.sum(-1L)
    use s = s0.mul(scalar scale)
    use masked =
        match mask with
        | Some m ->
            use off = m.logical_not().unsqueeze(0L).unsqueeze(-1L)
            s.masked_fill(off, scalar System.Double.NegativeInfinity)
        | None -> s.alias()
    use a = torch.nn.functional.softmax(masked, 2L)
    use v = torch.addcmul(e.V, n.V.unsqueeze(1L), e.M, scalar 1.0)
    use wv = a.unsqueeze(-1L) * v
    wv.sum(2L)

/// The four edge terms of one projection weight w [4H, De] (per head chunk of 4·dh rows: q, k, v, m), as four
/// De -> H products: no [rows, 4H] temporary (for MNIST at batch 8 it is 32 MB, above glibc's mmap threshold, so every
/// iteration would page-fault it in) and no unbind/stack. Edges [..., De] -> terms [..., heads, dh].
let edgeTerms (heads: int64) (edges: Tensor) (w: Tensor) : EdgeTerms =
    let de = w.shape[1]
    let dh = w.shape[0] / (4L * heads)
    let term (i: int) =
        use w4 = w.view(heads, 4L, dh, de)
        use wi = w4.select(1L, int64 i).reshape(heads * dh, de)
        use y = F.linear(edges, wi)
        y.view(Array.append (edges.shape[.. edges.shape.Length - 2]) [| heads; dh |])
    { Q = term 0; K = term 1; V = term 2; M = term 3 }

/// Whether the factored form does less work than the four edge terms: per edge row it computes u = A e (heads·De
/// wide) and me (H wide) instead of qe, ke, ve, me (4H wide), so it pays when heads·De < 3H, i.e. De < 3·dh.
let factoredPays (heads: int64) (dh: int64) (de: int64) = heads * de < 3L * heads * dh

/// Whether `sparseProjected` runs the factored form for terms of this type and shape: float32 CPU tensors, the fused
/// kernels built, and `factoredPays`.
let usesFactored (dtype: torch.ScalarType) (device: DeviceType) (heads: int64) (dh: int64) (de: int64) =
    dtype = torch.float32 && device = DeviceType.CPU && EdgeAttentionKernel.enabled () && factoredPays heads dh de

/// Sparse attention from node terms and the edge features with their projection weight w [4H, De] (the Relational
/// Transformer's De -> 4H edge projection, no bias): edges [B, E, De] -> [B, N, heads, dh].
///
/// For float32 CPU tensors with the fused kernels, where it does less work (`factoredPays`), it runs the factored form
/// (native/factored_attention.c): the edge terms are linear in e, so per head
///   (q_i + Wq e)·(k_j + Wk e) = q_i·k_j + (Wkᵀq_i + Wqᵀk_j + A e)·e  with A = WqᵀWk, and
///   Σ_j a_ij Wv e_ij = Wv Σ_j a_ij e_ij,
/// which replaces three of the four GEMMs over the B·E edge rows (qe, ke, ve) by one (u = A e) and a per-node product
/// (Wv after the weighted sum). Elsewhere it computes the four terms and runs `sparse`. The two agree to float
/// rounding (TestRelationalTransformer).
let sparseProjected (g: NeuralGraph) (scale: float) (n: NodeTerms) (edges: Tensor) (w: Tensor) : Tensor =
    let heads, dh = n.Q.shape[2], n.Q.shape[3]
    let b, rows, de = edges.shape[0], edges.shape[1], edges.shape[2]
    if usesFactored n.Q.dtype n.Q.device_type heads dh de then
        use w4 = w.view(heads, 4L, dh, de)
        // `unbind` (backward: one stack) rather than `select` per term (backward: a zero gradient of w each)
        let parts = w4.unbind(1L)
        let wq, wk, wv, wm = parts[0], parts[1], parts[2], parts[3]
        use wqT = wq.transpose(1L, 2L)
        use a = wqT.bmm(wk)
        use aRows = a.reshape(heads * de, de)
        use u0 = F.linear(edges, aRows)
        use u = u0.view(b, rows, heads, de)
        use wmRows = wm.reshape(heads * dh, de)
        use me0 = F.linear(edges, wmRows)
        use me = me0.view(b, rows, heads, dh)
        use qt = torch.einsum("bnhc,hcx->bnhx", n.Q, wk)
        use kt = torch.einsum("bnhc,hcx->bnhx", n.K, wq)
        let out, ebar = EdgeAttentionKernel.factored g scale n.Q n.K n.V qt kt edges u me
        use out = out
        use ebar = ebar
        use ve = torch.einsum("bnhx,hcx->bnhc", ebar, wv)
        for x in parts do x.Dispose()
        // not in place: the kernel saved `out` for its backward
        out + ve
    else
        let et = edgeTerms heads edges w
        let out = sparse g scale n et
        for x in [ et.Q; et.K; et.V; et.M ] do x.Dispose()
        out
