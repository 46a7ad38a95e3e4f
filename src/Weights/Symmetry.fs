/// The symmetries of a population of ReLU MLPs (thesis §4.1, §4.4): permuting the neurons of a hidden layer, and
/// scaling one hidden neuron's incoming weights and bias by c > 0 while dividing its outgoing weights by c, leave the
/// function the network computes unchanged, because relu(c·z) = c·relu(z) for c > 0.
///
/// Both actions are batched: each of the B networks has its own group element. A permutation or scaling of the hidden
/// neurons induces a permutation (resp. a positive diagonal scaling) of the P flat coordinates, so each action is one
/// `gather` (resp. one multiplication) of the flat [B, P] weights, with no loop over layers at apply time.
[<RequireQualifiedAccess>]
module WeightFlow.Symmetry

open TorchSharp

/// A permutation of each hidden layer's neurons, one per network. `Perms[j]`: [B, h_j] int64 for hidden layer j
/// (the output of weight layer j). New neuron k of hidden layer j is old neuron `Perms[j][b, k]`; with the
/// permutation matrix (P_j)[k, π_j(k)] = 1 the action is (thesis eq. 4.4's π)
///     W'_l = P_l W_l P_{l-1}ᵀ,   b'_l = P_l b_l            (P_{-1} = I on the inputs, P_L = I on the classes).
[<NoEquality; NoComparison>]
type Permutation = { Perms: Tensor list }

/// A positive scaling of each hidden neuron, one per network. `Scales[j]`: [B, h_j] with entries c > 0; the action is
///     W'_l = diag(c_l) W_l diag(c_{l-1})⁻¹,   b'_l = diag(c_l) b_l      (c_{-1} = 1 on the inputs, c_L = 1 on the classes).
[<NoEquality; NoComparison>]
type Scaling = { Scales: Tensor list }

/// Widths of the hidden layers of a layout.
let hiddenWidths (layout: Layout) : int[] = layout.Widths[1 .. layout.Widths.Length - 2]

let private checkPermutation (layout: Layout) (p: Permutation) =
    let hs = hiddenWidths layout
    if List.length p.Perms <> hs.Length then
        invalidArg "permutation" $"A {layout} MLP has {hs.Length} hidden layer(s) but the permutation has {List.length p.Perms}; build it for this layout."
    p.Perms |> List.iteri (fun j t ->
        if t.dim() <> 2L || int t.shape[1] <> hs[j] then
            invalidArg "permutation" $"Hidden layer {j} of a {layout} MLP has {hs[j]} neurons but its permutation has shape %A{t.shape}; expected [B, {hs[j]}].")

let private checkScaling (layout: Layout) (s: Scaling) =
    let hs = hiddenWidths layout
    if List.length s.Scales <> hs.Length then
        invalidArg "scaling" $"A {layout} MLP has {hs.Length} hidden layer(s) but the scaling has {List.length s.Scales}; build it for this layout."
    s.Scales |> List.iteri (fun j t ->
        if t.dim() <> 2L || int t.shape[1] <> hs[j] then
            invalidArg "scaling" $"Hidden layer {j} of a {layout} MLP has {hs[j]} neurons but its scales have shape %A{t.shape}; expected [B, {hs[j]}].")

/// The identity permutation for B networks.
let identityPermutation (device: Device) (layout: Layout) (b: int) : Permutation =
    { Perms = [ for h in hiddenWidths layout -> torch.arange(int64 h, dtype = torch.int64, device = device).unsqueeze(0L).expand(int64 b, -1L).contiguous() ] }

/// Uniformly random permutations for B networks (one independent draw per network and hidden layer).
let randomPermutation (gen: torch.Generator) (device: Device) (layout: Layout) (b: int) : Permutation =
    { Perms =
        [ for h in hiddenWidths layout ->
            use r = torch.rand([| int64 b; int64 h |], generator = gen)
            r.argsort(1L).``to``(device) ] }

/// `compose q p` acts as p first, then q: permute (compose q p) θ = permute q (permute p θ).
/// With new-from-old indices, (q ∘ p)[k] = p[q[k]].
let composePermutations (q: Permutation) (p: Permutation) : Permutation =
    { Perms = List.map2 (fun (qj: Tensor) (pj: Tensor) -> pj.gather(1L, qj)) q.Perms p.Perms }

/// The inverse permutation: permute (invert p) (permute p θ) = θ.
let invertPermutation (p: Permutation) : Permutation =
    { Perms = p.Perms |> List.map (fun pj -> pj.argsort(1L)) }

/// The flat-coordinate permutation induced by a neuron permutation: [B, P] int64 such that
/// permute p θ = θ.gather(1, flatIndex p). Layer l's Wᵀ block (in, out) takes entry (a, k) from (π_{l-1}(a), π_l(k)).
let flatIndex (layout: Layout) (p: Permutation) : Tensor =
    checkPermutation layout p
    let depth = Layout.depth layout
    let perms = Array.ofList p.Perms
    let b = if perms.Length > 0 then perms[0].shape[0] else 1L
    let device = if perms.Length > 0 then perms[0].device else torch.CPU
    let identity n = torch.arange(int64 n, dtype = torch.int64, device = device).unsqueeze(0L).expand(b, -1L)
    let inPerm i = if i = 0 then identity layout.Widths[0] else perms[i - 1]
    let outPerm i = if i = depth - 1 then identity layout.Widths[depth] else perms[i]
    let weights =
        [ for i in 0 .. depth - 1 ->
            let fin, fout = Layout.dims layout i
            let pin, pout = inPerm i, outPerm i
            (pin.unsqueeze(2L) * int64 fout + pout.unsqueeze(1L) + int64 (Layout.weightOffset layout i)).reshape(b, int64 (fin * fout)) ]
    let biases = [ for i in 0 .. depth - 1 -> outPerm i + int64 (Layout.biasOffset layout i) ]
    torch.cat(List.toArray (weights @ biases), 1L)

/// Applies a permutation to B networks: θ' with W'_l = P_l W_l P_{l-1}ᵀ, b'_l = P_l b_l. theta: [B, P].
let permute (layout: Layout) (p: Permutation) (theta: Tensor) : Tensor =
    checkPermutation layout p
    if List.isEmpty p.Perms then theta.alias() else
    use idx = flatIndex layout p
    if idx.shape[0] <> theta.shape[0] then
        invalidArg "permutation" $"The permutation is for {idx.shape[0]} network(s) but theta holds {theta.shape[0]}; make one per network."
    theta.gather(1L, idx)

/// The identity scaling for B networks.
let identityScaling (device: Device) (layout: Layout) (b: int) : Scaling =
    { Scales = [ for h in hiddenWidths layout -> torch.ones([| int64 b; int64 h |], device = device) ] }

/// Random scalings c = exp(u), u ~ U(-logRange, logRange), for B networks.
let randomScaling (gen: torch.Generator) (device: Device) (layout: Layout) (b: int) (logRange: float) : Scaling =
    { Scales =
        [ for h in hiddenWidths layout ->
            use u = torch.rand([| int64 b; int64 h |], generator = gen)
            (u * 2.0 - 1.0).mul(scalar logRange).exp().``to``(device) ] }

/// `composeScalings s t` acts as t first, then s (the group is abelian: the scales multiply).
let composeScalings (s: Scaling) (t: Scaling) : Scaling = { Scales = List.map2 (fun (a: Tensor) b -> a * b) s.Scales t.Scales }

/// The inverse scaling (reciprocal scales).
let invertScaling (s: Scaling) : Scaling = { Scales = s.Scales |> List.map (fun c -> c.reciprocal()) }

/// The per-coordinate factors induced by a neuron scaling: [B, P] with rescale s θ = θ ⊙ factors s.
/// Layer l's Wᵀ entry (a, k) gets c_l(k) / c_{l-1}(a); its bias entry k gets c_l(k).
let factors (layout: Layout) (s: Scaling) : Tensor =
    checkScaling layout s
    let depth = Layout.depth layout
    let scales = Array.ofList s.Scales
    let b = if scales.Length > 0 then scales[0].shape[0] else 1L
    let like = if scales.Length > 0 then Some scales[0] else None
    let ones n =
        match like with
        | Some t -> torch.ones([| b; int64 n |], dtype = t.dtype, device = t.device)
        | None -> torch.ones([| b; int64 n |])
    let inScale i = if i = 0 then ones layout.Widths[0] else scales[i - 1]
    let outScale i = if i = depth - 1 then ones layout.Widths[depth] else scales[i]
    let weights =
        [ for i in 0 .. depth - 1 ->
            let fin, fout = Layout.dims layout i
            (outScale(i).unsqueeze(1L) / inScale(i).unsqueeze(2L)).reshape(b, int64 (fin * fout)) ]
    let biases = [ for i in 0 .. depth - 1 -> outScale i ]
    torch.cat(List.toArray (weights @ biases), 1L)

/// Applies a positive neuron scaling to B networks. theta: [B, P].
let rescale (layout: Layout) (s: Scaling) (theta: Tensor) : Tensor =
    checkScaling layout s
    if List.isEmpty s.Scales then theta.alias() else
    use f = factors layout s
    if f.shape[0] <> theta.shape[0] then
        invalidArg "scaling" $"The scaling is for {f.shape[0]} network(s) but theta holds {theta.shape[0]}; make one per network."
    theta * f.to_type(theta.dtype)
