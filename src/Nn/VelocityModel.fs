/// The velocity-model contract (issue 10 item 4): one record through which the Relational Transformer, PNA and the
/// flat residual MLP plug into flow training and sampling identically. A model is its configuration (a union: which
/// kind, with that kind's settings), the layout it was built for, its named parameters and a function that, for a
/// layout, gives `t [B] -> x_t [B, P] -> output [B, P]` (flat order of Layout.fs). Files: the parameters under their
/// names in a safetensors file whose header holds the kind, the configuration and the layout, so a file alone
/// rebuilds its model.
namespace WeightFlow

open System
open System.Collections.Concurrent
open TorchSharp

/// Which velocity model, with its settings.
[<RequireQualifiedAccess>]
type VelocityConfig =
    /// The sparse or dense Relational Transformer over the neural graph (the thesis' model; equivariant to hidden
    /// neuron permutations, runs on any layout with the same input width, depth and output width).
    | Rt of RelationalTransformer.Config
    /// PNA over the neural graph (the thesis' alternative; same transfer as the RT).
    | Pna of Pna.Config
    /// A residual MLP over the flat vector (the non-equivariant baseline; only the layout it was built for).
    | Mlp of ResidualMlp.Config

/// The kinds of velocity model, without settings (for presets and the command line).
[<RequireQualifiedAccess>]
type VelocityKind =
    | Rt
    | Pna
    | Mlp

[<RequireQualifiedAccess>]
module VelocityKind =
    /// "rt", "pna", "mlp".
    let text (k: VelocityKind) = match k with VelocityKind.Rt -> "rt" | VelocityKind.Pna -> "pna" | VelocityKind.Mlp -> "mlp"

[<RequireQualifiedAccess>]
module VelocityConfig =
    /// This project's default settings of a kind at width `width` and depth `layers` (RT: sparse, Fourier time; PNA:
    /// Fourier time; MLP: residual blocks of the given width).
    let defaults (kind: VelocityKind) (width: int) (layers: int) : VelocityConfig =
        match kind with
        | VelocityKind.Rt -> VelocityConfig.Rt (RelationalTransformer.Config.defaults width layers)
        | VelocityKind.Pna -> VelocityConfig.Pna (Pna.Config.defaults width layers)
        | VelocityKind.Mlp -> VelocityConfig.Mlp (ResidualMlp.Config.defaults width layers)

    /// (width, layers) as `defaults` takes them.
    let size (c: VelocityConfig) =
        match c with
        | VelocityConfig.Rt r -> r.NodeWidth, r.Layers
        | VelocityConfig.Pna p -> p.Width, p.Layers
        | VelocityConfig.Mlp m -> m.Width, m.Blocks

    let kind (c: VelocityConfig) =
        match c with VelocityConfig.Rt _ -> VelocityKind.Rt | VelocityConfig.Pna _ -> VelocityKind.Pna | VelocityConfig.Mlp _ -> VelocityKind.Mlp

/// A velocity (or endpoint) model behind the contract. `On layout` is valid for every layout the kind supports and
/// raises a clear error otherwise; the neural graph of each layout is built once and cached.
[<NoEquality; NoComparison>]
type VelocityModel =
    { Config: VelocityConfig
      /// The layout the model was built for.
      Layout: Layout
      /// Every parameter under its stable dotted name (the checkpoint keys), in a fixed order.
      Parameters: Params.Named
      /// For a layout: t [B] -> x_t [B, P] -> output [B, P]. Pure: opens no scope, disposes no input.
      On: Layout -> (Tensor -> Tensor -> Tensor) }

[<RequireQualifiedAccess>]
module VelocityModel =
    /// The kind's name in files and on the command line: "rt", "pna", "mlp".
    let kindName (c: VelocityConfig) = match c with VelocityConfig.Rt _ -> "rt" | VelocityConfig.Pna _ -> "pna" | VelocityConfig.Mlp _ -> "mlp"

    let private graphCache (device: Device) =
        let cache = ConcurrentDictionary<string, NeuralGraph>()
        fun (layout: Layout) -> cache.GetOrAdd(string layout, fun _ -> Scope.noGrad (fun () ->
            let g = NeuralGraph.create device layout
            for t in [ g.Src; g.Dst; g.LayerIds; g.PositionIds ] do t.DetachFromDisposeScope() |> ignore
            g))

    /// Builds a model of the given kind for networks of `layout`, its parameters drawn from `gen` (on the CPU, then
    /// moved to `device`).
    let init (gen: torch.Generator) (device: Device) (config: VelocityConfig) (layout: Layout) : VelocityModel =
        let graphs = graphCache device
        match config with
        | VelocityConfig.Rt c ->
            let m = RelationalTransformer.init gen device c layout
            { Config = config; Layout = layout; Parameters = RelationalTransformer.parameters m
              On = fun l -> let g = graphs l in fun t x -> RelationalTransformer.apply m g t x }
        | VelocityConfig.Pna c ->
            let m = Pna.init gen device c layout
            { Config = config; Layout = layout; Parameters = Pna.parameters m
              On = fun l -> let g = graphs l in fun t x -> Pna.apply m g t x }
        | VelocityConfig.Mlp c ->
            let m = ResidualMlp.init gen device c layout
            { Config = config; Layout = layout; Parameters = ResidualMlp.parameters m
              On = fun l ->
                if l <> layout then
                    invalidArg "layout" $"The MLP velocity model was built for {layout} networks and cannot run on {l}: a flat MLP's input and output widths are the parameter count. Train an RT or PNA flow to sample other layouts."
                fun t x -> ResidualMlp.apply m t x }

    /// The model on the layout it was built for: t [B] -> x_t [B, P] -> [B, P].
    let apply (m: VelocityModel) (t: Tensor) (x: Tensor) : Tensor = m.On m.Layout t x

    /// Total number of scalar parameters.
    let parameterCount (m: VelocityModel) = Params.count m.Parameters

    // -----------------------------------------------------------------------------------------------------------
    // Configuration as string metadata (safetensors headers hold strings)

    let private timeText (t: GraphEncoding.TimeConditioning) =
        match t with GraphEncoding.Channel -> "channel" | GraphEncoding.Fourier k -> $"fourier:{k}"

    let private parseTime (s: string) =
        match s with
        | "channel" -> GraphEncoding.Channel
        | _ when s.StartsWith "fourier:" -> GraphEncoding.Fourier (int (s.Substring 8))
        | _ -> Check.dataError $"Unknown time conditioning '{s}' in a model file (expected 'channel' or 'fourier:K')."

    /// The kind, the layout and every configuration field, keys prefixed "model.".
    let toMetadata (config: VelocityConfig) (layout: Layout) : (string * string) list =
        let fields =
            match config with
            | VelocityConfig.Rt c ->
                [ "node_width", string c.NodeWidth; "edge_width", string c.EdgeWidth; "attention_width", string c.AttentionWidth
                  "heads", string c.Heads; "node_hidden", string c.NodeHidden; "edge_hidden", string c.EdgeHidden
                  "output_hidden", string c.OutputHidden; "layers", string c.Layers; "input_layers", string c.InputLayers
                  "time", timeText c.Time; "positional", string c.PositionalEmbedding
                  "neighbourhood", (match c.Neighbourhood with RelationalTransformer.Sparse -> "sparse" | RelationalTransformer.Dense -> "dense") ]
                // only a non-default pairing adds an entry, so the files and checkpoint identities of existing
                // models are unchanged
                @ (match c.Pairing with RelationalTransformer.Sum -> [] | RelationalTransformer.SumAndProduct -> [ "pairing", "sum+product" ])
                @ (match c.Aggregation with RelationalTransformer.Mean -> [] | RelationalTransformer.SqrtDegree -> [ "aggregation", "sqrt-degree" ])
                @ (match c.NeuronRows with RelationalTransformer.NoRowTerm -> [] | RelationalTransformer.SharedLowRank r -> [ "neuron_rows", $"shared-low-rank:{r}" ])
            | VelocityConfig.Pna c ->
                [ "width", string c.Width; "output_hidden", string c.OutputHidden; "layers", string c.Layers
                  "input_layers", string c.InputLayers; "time", timeText c.Time; "positional", string c.PositionalEmbedding ]
            | VelocityConfig.Mlp c ->
                [ "width", string c.Width; "blocks", string c.Blocks; "hidden", string c.Hidden; "time_frequencies", string c.TimeFrequencies ]
        ("model.kind", kindName config) :: ("model.layout", string layout) :: (fields |> List.map (fun (k, v) -> "model." + k, v))

    /// Reads what `toMetadata` wrote; `get` raises a DataError for a missing key, `tryGet` reads an optional one.
    let ofMetadata (get: string -> string) (tryGet: string -> string option) : VelocityConfig * Layout =
        let i k = Int32.Parse(get ("model." + k), Globalization.CultureInfo.InvariantCulture)
        let b k = Boolean.Parse(get ("model." + k))
        let layout = Layout.parse (get "model.layout")
        let config =
            match get "model.kind" with
            | "rt" ->
                VelocityConfig.Rt
                    { NodeWidth = i "node_width"; EdgeWidth = i "edge_width"; AttentionWidth = i "attention_width"; Heads = i "heads"
                      NodeHidden = i "node_hidden"; EdgeHidden = i "edge_hidden"; OutputHidden = i "output_hidden"; Layers = i "layers"
                      InputLayers = i "input_layers"; Time = parseTime (get "model.time"); PositionalEmbedding = b "positional"
                      Neighbourhood = (match get "model.neighbourhood" with "dense" -> RelationalTransformer.Dense | _ -> RelationalTransformer.Sparse)
                      Pairing =
                        match tryGet "model.pairing" with
                        | None -> RelationalTransformer.Sum
                        | Some "sum+product" -> RelationalTransformer.SumAndProduct
                        | Some other -> Check.dataError $"Unknown RT node pairing '{other}' in a model file (expected 'sum+product' or no entry); the file was edited or written by another version. Retrain the flow."
                      Aggregation =
                        match tryGet "model.aggregation" with
                        | None -> RelationalTransformer.Mean
                        | Some "sqrt-degree" -> RelationalTransformer.SqrtDegree
                        | Some other -> Check.dataError $"Unknown RT attention aggregation '{other}' in a model file (expected 'sqrt-degree' or no entry); the file was edited or written by another version. Retrain the flow."
                      NeuronRows =
                        match tryGet "model.neuron_rows" with
                        | None -> RelationalTransformer.NoRowTerm
                        | Some s when s.StartsWith "shared-low-rank:" && fst (Int32.TryParse(s.Substring 16)) && Int32.Parse(s.Substring 16) >= 1 ->
                            RelationalTransformer.SharedLowRank (Int32.Parse(s.Substring 16))
                        | Some other -> Check.dataError $"Unknown RT neuron-row term '{other}' in a model file (expected 'shared-low-rank:R' with R ≥ 1, or no entry); the file was edited or written by another version. Retrain the flow." }
            | "pna" ->
                VelocityConfig.Pna
                    { Width = i "width"; OutputHidden = i "output_hidden"; Layers = i "layers"; InputLayers = i "input_layers"
                      Time = parseTime (get "model.time"); PositionalEmbedding = b "positional" }
            | "mlp" -> VelocityConfig.Mlp { Width = i "width"; Blocks = i "blocks"; Hidden = i "hidden"; TimeFrequencies = i "time_frequencies" }
            | k -> Check.dataError $"Unknown velocity model kind '{k}' (expected rt, pna or mlp)."
        config, layout

    /// Refuses a configuration read from `path` that describes a model far larger than the `stored` parameter elements
    /// the file holds (a header lying about sizes), before anything is allocated: every width and count must be
    /// non-negative and at most `stored`, and a lower estimate of the parameter count (each layer's largest weight
    /// matrices) at most twice `stored`. So loading allocates O(file size) for the model.
    let checkSize (path: string) (config: VelocityConfig) (layout: Layout) (stored: int64) =
        let l (x: int) = int64 x
        let timeK (t: GraphEncoding.TimeConditioning) = match t with GraphEncoding.Channel -> 0 | GraphEncoding.Fourier k -> k
        let fields, lower =
            match config with
            | VelocityConfig.Rt c ->
                [ c.NodeWidth; c.EdgeWidth; c.AttentionWidth; c.Heads; c.NodeHidden; c.EdgeHidden; c.OutputHidden; c.Layers; c.InputLayers; timeK c.Time ],
                l c.Layers * (l c.NodeWidth * l c.NodeHidden + l c.EdgeWidth * l c.EdgeHidden + l c.NodeWidth * l c.AttentionWidth)
            | VelocityConfig.Pna c ->
                [ c.Width; c.OutputHidden; c.Layers; c.InputLayers; timeK c.Time ], l c.Layers * l c.Width * l c.Width
            | VelocityConfig.Mlp c ->
                [ c.Width; c.Blocks; c.Hidden; c.TimeFrequencies ], l c.Blocks * l c.Width * l c.Hidden + l (Layout.paramCount layout) * l c.Width
        if fields |> List.exists (fun f -> f < 0 || l f > stored) || lower < 0L || lower > 2L * stored then
            Check.dataError $"{path}: its header describes a {kindName config} model (%A{fields}) far larger than the {stored} parameters the file stores; the header lies about sizes (edited or damaged). Regenerate the file."

    /// Copies named tensors (e.g. read from a file, under `prefix`) into the parameters; a missing name or shape
    /// mismatch is one DataError naming it.
    let copyFrom (path: string) (prefix: string) (tensors: (string * Tensor) list) (ps: Params.Named) =
        let byName = dict tensors
        use _ = torch.no_grad ()
        for n, p in ps do
            match byName.TryGetValue(prefix + n) with
            | true, t when t.shape = p.shape && t.dtype = p.dtype ->
                use ok = torch.isfinite(t).all()
                if not (ok.ToBoolean()) then
                    Check.fail Check.ErrorKind.NonFinite $"{path}: tensor '{prefix + n}' contains NaN or infinite values; the file was damaged or saved from a diverged training. Use an earlier checkpoint or retrain."
                p.copy_(t) |> ignore
            | true, t when t.shape = p.shape -> Check.dataError $"{path}: tensor '{prefix + n}' is {t.dtype} but the model's parameter is {p.dtype}; the file was edited or written by another program."
            | true, t -> Check.dataError $"{path}: tensor '{prefix + n}' has shape %A{t.shape} but the model's parameter has %A{p.shape}; the file was written by another model configuration."
            | _ -> Check.dataError $"{path} has no tensor '{prefix + n}'; it was not written for this model configuration."

    /// Writes the model (parameters under their names, configuration and layout in the header) atomically.
    let save (path: string) (m: VelocityModel) =
        Storage.write path (Map.ofList (("weightflow.kind", "velocity-model") :: toMetadata m.Config m.Layout))
            [ for n, p in m.Parameters -> n, p :> Tensor ]

    /// Rebuilds a model from a file written by `save` on `device`.
    let load (device: Device) (path: string) : VelocityModel =
        let s = Storage.read path
        let get = Storage.meta path s
        let config, layout = ofMetadata get s.Metadata.TryFind
        use gen = Scope.Rng.create 0L
        let m = init gen device config layout
        copyFrom path "" s.Tensors m.Parameters
        for _, t in s.Tensors do t.Dispose()
        m
