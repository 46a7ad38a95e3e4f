/// An equivariant neuron-row linear term (issue 13; in the spirit of the permutation-equivariant neural functionals
/// of Zhou et al. 2023 (NFN) and Navon et al. 2023 (DWSNet)): for every hidden neuron, the fixed-index parts of its
/// row — its incoming weights from the input layer, its bias, its outgoing weights to the output layer — are mapped
/// by one learned, time-gated low-rank linear map shared by every neuron of that hidden layer,
///     y_k = U_l (g_l(t) ⊙ (V_lᵀ x_k)),      V_l: [F_l, r], U_l: [r, F_l], g_l(t) ∈ R^r,
/// and y_k is added to the same coordinates of the model's output.
///
/// Why (docs/results/mnist-flows.md, "Why the RT stays on its plateau"): on the standardized MNIST zoo the best
/// linear endpoint predictor that applies ONE 795 x 795 map to every hidden neuron's row (the "shared" line) beats the
/// per-coordinate one (the "diagonal" line, where every RT run sits) by 0.24 in t ∈ [0.2, 0.4). With row second
/// moment S = Q Λ Qᵀ and z_t = t z1 + (1 − t) z0, that predictor is E[z1 | z_t] = Q diag(tλ / (t²λ + (1 − t)²)) Qᵀ z_t
/// row by row — exactly this form with U = V = Q_r and g(t)_i = tλ_i / (t²λ_i + (1 − t)²) on the top r directions,
/// the rest being the per-coordinate shrinkage the RT already learns. The RT's attention would have to form the
/// projections Vᵀx_k as softmax means over 795 pairs and write them back as products of node features; this term
/// computes them directly.
///
/// Parts that join two permutable (hidden) layers have no fixed index, so a row holds only their mean over the
/// permutable index (one value each for the incoming and the outgoing side), and that part of y_k is added to every
/// such edge of neuron k. Equivariance (proof): permuting the neurons of each hidden layer leaves a neuron's
/// fixed-index parts and its means over permutable neighbours unchanged, so the permuted neuron gets the same x_k,
/// the same y_k, and writes it to its own (permuted) coordinates. Layouts without a hidden layer get a zero term.
/// Depth, input and output widths are fixed by the model (F_l = w0 or 1, + 1, + C or 1); hidden widths are free.
///
/// Initialisation: U = 0 (as LoRA's B), so a fresh model computes exactly the function without the term; V
/// Xavier-uniform; the gate an MLP of Fourier features of t (FourierTime, 8 octaves).
[<RequireQualifiedAccess>]
module WeightFlow.NeuronRowLinear

open TorchSharp
open TorchSharp.Modules
open WeightFlow.Layers

/// Fourier octaves of the gate's time input.
let private frequencies = 8

/// One hidden layer's map.
[<NoEquality; NoComparison>]
type LayerMap =
    { /// [F_l, r]: the row -> r coefficients.
      V: Parameter
      /// [r, F_l]: r coefficients -> the row; zero at initialisation.
      U: Parameter }

[<NoEquality; NoComparison>]
type Term =
    { Rank: int
      /// The layout's widths the term was built for (only input width, depth and output width are binding).
      Widths: int[]
      Layers: LayerMap list
      /// Fourier(t) -> r gates per hidden layer: [FourierTime.width 8; r; r·(hidden layers)].
      Gate: Chain }

/// F_l of hidden layer l (1 ≤ l ≤ L − 1) in widths [w0; ...; C]: the incoming part (w0 from the input layer, else one
/// mean), the bias, the outgoing part (C to the output layer, else one mean).
let rowWidth (widths: int[]) (l: int) : int =
    let last = widths.Length - 1
    (if l = 1 then widths[0] else 1) + 1 + (if l = last - 1 then widths[last] else 1)

let init (gen: torch.Generator) (device: Device) (rank: int) (layout: Layout) : Term =
    let w = layout.Widths
    let hidden = w.Length - 2
    let layers =
        [ for l in 1 .. hidden ->
            let f = rowWidth w l
            { V = Params.uniform gen device [ f; rank ] (sqrt (6.0 / float (f + rank)))
              U = Params.constant device [ rank; f ] 0.0 } ]
    { Rank = rank; Widths = w; Layers = layers
      Gate = Chain.init gen device TorchDefault Silu [ FourierTime.width frequencies; rank; rank * max 1 hidden ] }

let parameters (p: Term) : Params.Named =
    [ for i, m in List.indexed p.Layers do
        yield $"{i}.v", m.V
        yield $"{i}.u", m.U
      yield! Params.under "gate" (Chain.parameters p.Gate) ]

/// The term for flat weights theta [B, P] of `layout` at times t [B]: [B, P] in the flat order (Layout.fs).
let apply (p: Term) (layout: Layout) (t: Tensor) (theta: Tensor) : Tensor =
    let w = layout.Widths
    let last = w.Length - 1
    if w.Length <> p.Widths.Length || w[0] <> p.Widths[0] || w[last] <> p.Widths[p.Widths.Length - 1] then
        invalidArg "layout" $"The neuron-row term was built for {Layout.create p.Widths}-like networks and cannot run on {layout}: its maps are sized by the input width, the depth and the output width; only hidden widths may change."
    let b = theta.shape[0]
    let r = int64 p.Rank
    use phi = FourierTime.apply frequencies t
    use phiT = phi.to_type(theta.dtype)
    use gates = Chain.apply p.Gate phiT
    // per weight block i (layer i -> i + 1): the contributions written into it, each broadcastable to [B, in, out]
    let blocks = Array.init last (fun _ -> ResizeArray<Tensor>())
    let biases = Array.init last (fun _ -> None)
    for l in 1 .. last - 1 do
        let m = p.Layers[l - 1]
        let wl = int64 w[l]
        use inT = Layout.weightT layout (l - 1) theta // [B, w_{l-1}, w_l]
        use outT = Layout.weightT layout l theta // [B, w_l, w_{l+1}]
        use bias = Layout.bias layout (l - 1) theta // [B, w_l]
        use inPart = if l = 1 then inT.transpose(1L, 2L) else inT.mean([| 1L |]).unsqueeze(-1L) // [B, w_l, w0 | 1]
        use outPart = if l = last - 1 then outT.alias() else outT.mean([| 2L |], keepdim = true) // [B, w_l, C | 1]
        use biasPart = bias.unsqueeze(-1L)
        use x = torch.cat([| inPart; biasPart; outPart |], -1L) // [B, w_l, F_l]
        use h = x.matmul(m.V) // [B, w_l, r]
        use g = gates.narrow(1L, int64 (l - 1) * r, r).unsqueeze(1L) // [B, 1, r]
        use hg = h * g
        use y = hg.matmul(m.U) // [B, w_l, F_l]
        let widthIn = inPart.shape[2]
        let yParts = y.split([| widthIn; 1L; outPart.shape[2] |], 2L)
        // incoming side into block l − 1 as [B, w_{l-1} | 1, w_l]; outgoing side into block l as [B, w_l, C | 1]
        blocks[l - 1].Add(yParts[0].transpose(1L, 2L))
        blocks[l].Add(yParts[2].alias())
        biases[l - 1] <- Some (yParts[1].reshape(b, wl))
        for x in yParts do x.Dispose()
    let weightRows =
        [| for i in 0 .. last - 1 ->
             let shape = [| b; int64 w[i]; int64 w[i + 1] |]
             // broadcast sums into a fresh zero block (the contributions are disposed with `blocks` below)
             use full = torch.zeros(shape, dtype = theta.dtype, device = theta.device)
             for c in blocks[i] do full.add_(c) |> ignore
             full.view(b, -1L) |]
    let biasRows =
        [| for i in 0 .. last - 1 ->
             match biases[i] with
             | Some y -> y
             | None -> torch.zeros([| b; int64 w[i + 1] |], dtype = theta.dtype, device = theta.device) |]
    let out = torch.cat(Array.append weightRows biasRows, 1L)
    for list in blocks do for x in list do x.Dispose()
    for x in Array.append weightRows biasRows do x.Dispose()
    out

/// Forward multiply-add FLOPs (2 per multiply-add) of one batch: the two rank-r products per hidden neuron.
let flops (rank: int) (layout: Layout) (batch: int) : float =
    let w = layout.Widths
    2.0 * float batch * Seq.sum (seq { for l in 1 .. w.Length - 2 -> float w[l] * 2.0 * float (rowWidth w l) * float rank })
