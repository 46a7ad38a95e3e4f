/// The honest baseline velocity model the thesis lacks (issue 11 item 4): a residual MLP over the flat weight vector
/// and a Fourier embedding of t. It is neither permutation-equivariant nor transferable to another layout (its input
/// and output widths are P), but on small networks it is fast, and every quality table shows it beside the RT.
///
/// x [B, P], t [B] -> h = In x + Time(φ(t)); Blocks × (h <- h + Down(SiLU(Up(LN h)))); out = Out(LN h) [B, P].
/// Pre-LN residual blocks keep the stream's scale fixed however deep the stack is.
[<RequireQualifiedAccess>]
module WeightFlow.ResidualMlp

open TorchSharp
open WeightFlow.Layers

type private F = torch.nn.functional

type Config =
    { /// Width of the residual stream.
      Width: int
      /// Residual blocks.
      Blocks: int
      /// Hidden width inside each block.
      Hidden: int
      /// Octaves of the Fourier time features (FourierTime).
      TimeFrequencies: int }

[<RequireQualifiedAccess>]
module Config =
    /// Width w, `blocks` blocks of hidden width w, 8 time octaves (the prototype's 3 × 512 is `defaults 512 3`).
    let defaults (width: int) (blocks: int) : Config = { Width = width; Blocks = blocks; Hidden = width; TimeFrequencies = 8 }

    let validate (c: Config) =
        for name, v in [ "Width", c.Width; "Blocks", c.Blocks; "Hidden", c.Hidden; "TimeFrequencies", c.TimeFrequencies ] do
            Check.arg "config" (v >= 1) $"{name} must be at least 1 but is {v}."

[<NoEquality; NoComparison>]
type Block = { Norm: LayerNorm; Up: Linear; Down: Linear }

[<NoEquality; NoComparison>]
type Model =
    { Config: Config
      /// The layout whose flat vector the model reads and writes (its only layout).
      Layout: Layout
      In: Linear
      Time: Linear
      Blocks: Block list
      OutNorm: LayerNorm
      Out: Linear }

/// Builds the model for networks of `layout` (P = paramCount layout inputs and outputs).
let init (gen: torch.Generator) (device: Device) (c: Config) (layout: Layout) : Model =
    Config.validate c
    let p = Layout.paramCount layout
    let lin i o = Linear.init gen device TorchDefault true i o
    { Config = c
      Layout = layout
      In = lin p c.Width
      Time = lin (FourierTime.width c.TimeFrequencies) c.Width
      Blocks = List.init c.Blocks (fun _ -> { Norm = LayerNorm.init device c.Width; Up = lin c.Width c.Hidden; Down = lin c.Hidden c.Width })
      OutNorm = LayerNorm.init device c.Width
      Out = lin c.Width p }

let parameters (m: Model) : Params.Named =
    [ yield! Params.under "in" (Linear.parameters m.In)
      yield! Params.under "time" (Linear.parameters m.Time)
      for i, b in List.indexed m.Blocks do
          yield! Params.under $"blocks.{i}.norm" (LayerNorm.parameters b.Norm)
          yield! Params.under $"blocks.{i}.up" (Linear.parameters b.Up)
          yield! Params.under $"blocks.{i}.down" (Linear.parameters b.Down)
      yield! Params.under "out_norm" (LayerNorm.parameters m.OutNorm)
      yield! Params.under "out" (Linear.parameters m.Out) ]

/// One value per weight and bias: t [B], theta [B, P] -> [B, P]. Pure: opens no scope, disposes no input.
let apply (m: Model) (t: Tensor) (theta: Tensor) : Tensor =
    let p = Layout.paramCount m.Layout
    if theta.dim() <> 2L || int theta.shape[1] <> p then
        invalidArg "theta" $"The MLP velocity model was built for {m.Layout} networks ({p} parameters) but got shape %A{theta.shape}; a flat MLP cannot run on another layout (use the RT or PNA for that)."
    if t.dim() <> 1L || t.shape[0] <> theta.shape[0] then
        invalidArg "t" $"t must have shape [B] = [{theta.shape[0]}] (one time per network) but has %A{t.shape}."
    use phi = FourierTime.apply m.Config.TimeFrequencies t
    use te = Linear.apply m.Time phi
    let mutable h = Linear.apply m.In theta
    h.add_(te) |> ignore
    for b in m.Blocks do
        use n = LayerNorm.apply b.Norm h
        use u = Linear.apply b.Up n
        use a = F.silu u
        // in place on the fresh Linear output (its backward does not need it); `next` is that tensor
        let next = (Linear.apply b.Down a).add_(h)
        h.Dispose()
        h <- next
    use hn = LayerNorm.apply m.OutNorm h
    h.Dispose()
    Linear.apply m.Out hn
