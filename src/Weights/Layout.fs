/// The architecture of a ReLU MLP and the one flat order of its parameters.
///
/// Flat order (the thesis code's, so that a neural graph's edges followed by its non-input nodes *are* the flat
/// vector, anchors §1-2): first every layer's weights as Wᵀ, i.e. (in, out) row-major, so the weight from input
/// neuron a to output neuron b of layer l sits at `weightOffset l + a*out + b`; then every layer's bias.
/// P = Σ_l in_l·out_l + Σ_l out_l (802 for 30-16-16-2, 7,960 for 784-10-10).
namespace WeightFlow

open System

/// A ReLU MLP architecture: widths [d0; h1; ...; C].
[<CustomEquality; NoComparison>]
type Layout =
    { Widths: int[] }
    override this.Equals(o) = match o with :? Layout as l -> l.Widths = this.Widths | _ -> false
    override this.GetHashCode() = hash (List.ofArray this.Widths)
    override this.ToString() = this.Widths |> Array.map string |> String.concat "-"

/// One layer's parameters as views of a flat [B, P] tensor.
[<NoEquality; NoComparison>]
type LayerParams =
    { /// [B, out, in] (PyTorch orientation)
      W: Tensor
      /// [B, out]
      B: Tensor }

[<RequireQualifiedAccess>]
module Layout =
    /// Builds a layout; at least an input and an output width, all positive.
    let create (widths: int seq) : Layout =
        let w = Array.ofSeq widths
        if w.Length < 2 then invalidArg "widths" $"An MLP layout needs at least input and output widths, e.g. 30-16-16-2; got {w.Length} width(s)."
        if w |> Array.exists (fun x -> x < 1) then invalidArg "widths" $"Every layer width must be positive; got %A{w}."
        // counts are ints (flat vectors index with them); a layout beyond that is an error, not an overflow
        let total = (w |> Array.pairwise |> Array.sumBy (fun (a, b) -> int64 a * int64 b)) + (w[1..] |> Array.sumBy int64)
        if total > int64 Int32.MaxValue then
            invalidArg "widths" $"A %A{w} MLP would have {total} parameters, more than the {Int32.MaxValue} WeightFlow supports."
        { Widths = w }

    /// Parses "30-16-16-2" (also "30x16x16x2", "30, 16, 16, 2"): widths joined by one separator each, so that a typo
    /// such as "30-x-2" or a trailing "-" is refused rather than read as another layout.
    let parse (s: string) : Layout =
        let parts = s.Trim().Split([| '-'; 'x'; ',' |]) |> Array.map (fun p -> p.Trim())
        match parts |> Array.map Int32.TryParse |> Array.forall fst with
        | true when parts.Length >= 2 -> create (parts |> Array.map int)
        | _ -> invalidArg "layout" $"'{s}' is not an MLP layout; write the widths joined by '-', e.g. 30-16-16-2."

    /// Number of weight layers L.
    let depth (l: Layout) = l.Widths.Length - 1

    /// (in, out) of layer i (0-based).
    let dims (l: Layout) (i: int) = l.Widths[i], l.Widths[i + 1]

    /// Number of weights (edges) over all layers.
    let weightCount (l: Layout) = Seq.sum (seq { for i in 0 .. depth l - 1 -> l.Widths[i] * l.Widths[i + 1] })

    /// Number of biases (non-input neurons).
    let biasCount (l: Layout) = Array.sum l.Widths - l.Widths[0]

    /// Total number of parameters P.
    let paramCount (l: Layout) = weightCount l + biasCount l

    /// Offset of layer i's weight block (in, out) in the flat vector.
    let weightOffset (l: Layout) (i: int) = Seq.sum (seq { for j in 0 .. i - 1 -> l.Widths[j] * l.Widths[j + 1] })

    /// Offset of layer i's bias in the flat vector.
    let biasOffset (l: Layout) (i: int) = weightCount l + Seq.sum (seq { for j in 1 .. i -> l.Widths[j] })

    let private checkFlat (l: Layout) (theta: Tensor) =
        if theta.dim() <> 2L || int theta.shape[1] <> paramCount l then
            invalidArg "theta" $"Flat weights of a {l} MLP must have shape [B, {paramCount l}] but have %A{theta.shape}; check that the weights belong to this architecture."

    /// Layer i's weights as Wᵀ: a [B, in, out] view of theta.
    let weightT (l: Layout) (i: int) (theta: Tensor) : Tensor =
        checkFlat l theta
        let fin, fout = dims l i
        theta.narrow(1L, int64 (weightOffset l i), int64 (fin * fout)).view(-1L, int64 fin, int64 fout)

    /// Layer i's bias: a [B, out] view of theta.
    let bias (l: Layout) (i: int) (theta: Tensor) : Tensor =
        checkFlat l theta
        theta.narrow(1L, int64 (biasOffset l i), int64 l.Widths[i + 1])

    /// Per-layer parameters: W [B, out, in] (a transposed view) and b [B, out].
    let unflatten (l: Layout) (theta: Tensor) : LayerParams list =
        [ for i in 0 .. depth l - 1 -> { W = (weightT l i theta).transpose(1L, 2L); B = bias l i theta } ]

    /// Inverse of unflatten: W [B, out, in], b [B, out] per layer -> [B, P] (a fresh tensor).
    let flatten (l: Layout) (layers: LayerParams list) : Tensor =
        if List.length layers <> depth l then invalidArg "layers" $"A {l} MLP has {depth l} layers but {List.length layers} were given."
        let ws = layers |> List.map (fun p -> p.W.transpose(1L, 2L).reshape(p.W.shape[0], -1L))
        let bs = layers |> List.map (fun p -> p.B)
        TorchSharp.torch.cat(List.toArray (ws @ bs), 1L)
