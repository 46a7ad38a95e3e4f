/// Layer combinators: each layer is a parameter record with `init`, a pure `apply p x` and `parameters p` that lists
/// its parameters under stable names (STYLE §8.4). Nothing here opens a dispose scope. The layer modules inside are
/// qualified (Linear.apply, LayerNorm.apply); the container is opened by the models.
module WeightFlow.Layers

open System
open TorchSharp
open TorchSharp.Modules

type private F = torch.nn.functional

/// How a Linear layer's weights start.
type LinearInit =
    /// xavier_uniform (gain 1) weights, zero bias: the RT layers (anchors §3.3).
    | Xavier
    /// PyTorch's nn.Linear default, U(±1/√fan_in) for weight and bias: input projections and output heads.
    | TorchDefault

/// y = x Wᵀ + b, W: [out, in].
[<NoEquality; NoComparison>]
type Linear = { Weight: Parameter; Bias: Parameter option }

[<RequireQualifiedAccess>]
module Linear =
    let init (gen: torch.Generator) (device: Device) (init: LinearInit) (bias: bool) (fanIn: int) (fanOut: int) : Linear =
        match init with
        | Xavier ->
            let bound = sqrt (6.0 / float (fanIn + fanOut))
            { Weight = Params.uniform gen device [ fanOut; fanIn ] bound
              Bias = if bias then Some (Params.constant device [ fanOut ] 0.0) else None }
        | TorchDefault ->
            let bound = 1.0 / sqrt (float fanIn)
            { Weight = Params.uniform gen device [ fanOut; fanIn ] bound
              Bias = if bias then Some (Params.uniform gen device [ fanOut ] bound) else None }

    let apply (p: Linear) (x: Tensor) : Tensor =
        match p.Bias with
        | Some b -> F.linear(x, p.Weight, b)
        | None -> F.linear(x, p.Weight)

    let parameters (p: Linear) : Params.Named =
        [ yield "weight", p.Weight
          match p.Bias with Some b -> yield "bias", b | None -> () ]

    let fanIn (p: Linear) = int p.Weight.shape[1]
    let fanOut (p: Linear) = int p.Weight.shape[0]

/// LayerNorm over the last dimension with affine parameters, eps 1e-5 (anchors §3.3).
[<NoEquality; NoComparison>]
type LayerNorm = { Gain: Parameter; Shift: Parameter }

[<RequireQualifiedAccess>]
module LayerNorm =
    let init (device: Device) (width: int) : LayerNorm =
        { Gain = Params.constant device [ width ] 1.0; Shift = Params.constant device [ width ] 0.0 }

    let apply (p: LayerNorm) (x: Tensor) : Tensor = F.layer_norm(x, [| p.Gain.shape[0] |], p.Gain, p.Shift, 1e-5)

    let parameters (p: LayerNorm) : Params.Named = [ "weight", p.Gain; "bias", p.Shift ]

/// The transformer feed-forward block: Linear (no bias) -> exact GELU -> Linear (anchors §3.3, P15).
[<NoEquality; NoComparison>]
type FeedForward = { Up: Linear; Down: Linear }

[<RequireQualifiedAccess>]
module FeedForward =
    let init gen device (width: int) (hidden: int) : FeedForward =
        { Up = Linear.init gen device Xavier false width hidden; Down = Linear.init gen device Xavier true hidden width }

    let apply (p: FeedForward) (x: Tensor) : Tensor =
        use h = Linear.apply p.Up x
        use a = F.gelu h
        Linear.apply p.Down a

    let parameters (p: FeedForward) : Params.Named =
        Params.under "up" (Linear.parameters p.Up) @ Params.under "down" (Linear.parameters p.Down)

/// Activations between the linears of a Chain.
type Activation =
    | Relu
    | Silu
    | Gelu

[<RequireQualifiedAccess>]
module Activation =
    let apply (a: Activation) (x: Tensor) : Tensor =
        match a with
        | Relu -> F.relu x
        | Silu -> F.silu x
        | Gelu -> F.gelu x

/// Linears with an activation between consecutive ones and none after the last (an MLP).
[<NoEquality; NoComparison>]
type Chain = { Linears: Linear list; Activation: Activation }

[<RequireQualifiedAccess>]
module Chain =
    /// widths = [in; h1; ...; out].
    let init gen device (init: LinearInit) (activation: Activation) (widths: int list) : Chain =
        { Linears = widths |> List.pairwise |> List.map (fun (i, o) -> Linear.init gen device init true i o)
          Activation = activation }

    let apply (p: Chain) (x: Tensor) : Tensor =
        let last = p.Linears.Length - 1
        let mutable h = x
        p.Linears |> List.iteri (fun i l ->
            let z = Linear.apply l h
            if not (obj.ReferenceEquals(h, x)) then h.Dispose()
            h <- if i < last then (let a = Activation.apply p.Activation z in z.Dispose(); a) else z)
        h

    let parameters (p: Chain) : Params.Named =
        p.Linears |> List.mapi (fun i l -> Params.under (string i) (Linear.parameters l)) |> List.concat

/// Fixed Fourier features of the flow time t ∈ [0, 1]: [t, sin(2π fₖ t), cos(2π fₖ t)] with fₖ = 2^k,
/// k = 0..count-1 (no parameters; a learned Linear maps them to feature widths).
[<RequireQualifiedAccess>]
module FourierTime =
    let width (count: int) = 2 * count + 1

    /// t: [B] -> [B, 2·count + 1].
    let apply (count: int) (t: Tensor) : Tensor =
        use freqs = torch.tensor([| for k in 0 .. count - 1 -> float32 (2.0 * Math.PI * 2.0 ** float k) |], device = t.device)
        use tc = t.to_type(torch.float32).unsqueeze(1L)
        use angles = tc * freqs.unsqueeze(0L)
        use s = angles.sin()
        use c = angles.cos()
        torch.cat([| tc; s; c |], 1L)
