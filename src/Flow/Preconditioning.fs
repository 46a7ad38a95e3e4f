/// Preconditioning of the endpoint model along the Gaussian path (Karras et al. 2022, "EDM", §5 and appendix B.6,
/// adapted from x = y + σn to the path x_t = (1 - t) x0 + t x1 + σ ε of thesis §6.3; issue 11). Without it the RT
/// sees x_t at the prior's scale (s = 0.1) at small t and at the zoo's (RMS 0.2-0.8, different per layer) near t = 1,
/// and must write x̂1 at the zoo's scale through its output heads whatever t is; on the aligned UCI zoo the Euclidean
/// RT's samples then never left the prior's scale (scripts/uci-trajectory.fsx). With per-group second moments s_g²
/// of the prior and d_g² of the targets (group = one layer's weights or one layer's biases, so the scales carry over
/// to wider layouts of the same depth), and D = (1 - t)² s² + t² d² + σ² the second moment of x_t:
/// - input scaling: the model reads c_in·x_t with c_in = 1/√D, unit RMS at every t and in every layer;
/// - output scaling (EDM): x̂1 = c_skip·x_t + c_out·F with c_skip = t d²/D, the least-squares linear estimate of x1
///   from x_t (E[x1 x_t] / E[x_t²] for independent zero-mean x0), and c_out = d·√((1 - t)² s² + σ²)/√D, the RMS of
///   what that estimate leaves, so the network's output F has unit target RMS at every t; at t = 1 (σ = 0) x̂1 = x_t.
/// The scales are fitted once from the training targets and stored in the flow's file, so sampling and likelihoods
/// use exactly the numbers training used.
namespace WeightFlow

open System
open System.Globalization
open TorchSharp

/// RMS per parameter group of a layout's depth L: entries 0 .. L-1 are layer l's weights, L .. 2L-1 layer l's biases.
type PathScales =
    { /// The prior's RMS per group (s_g).
      Prior: float[]
      /// The targets' RMS per group (d_g), in the flow's space.
      Data: float[]
      /// σ of the Gaussian path.
      Sigma: float }

/// How the model's input and output are scaled along the path (a fitted flow's value; training chooses a
/// PreconditioningKind and fits the scales).
[<NoEquality; NoComparison>]
type Preconditioning =
    /// The model reads x_t and its output is x̂1 as it is (the thesis).
    | Unscaled
    /// The model reads c_in·x_t; its output is used as it is.
    | ScaledInput of PathScales
    /// The model reads c_in·x_t and x̂1 = c_skip·x_t + c_out·F (EDM's preconditioning).
    | ScaledInputOutput of PathScales

/// Which preconditioning a training run uses (the scales are fitted from its targets).
[<RequireQualifiedAccess>]
type PreconditioningKind =
    | Plain
    | Input
    | Edm
    /// EDM's preconditioning and its loss weight λ(t) = 1/c_out² per coordinate (Karras et al. 2022, eq. 8 with
    /// λ = 1/c_out²): the loss is the network's error on its own unit-RMS target (x1 - c_skip·x_t)/c_out, so every t
    /// counts alike; with the plain x1 loss an error at t near 1 counts c_out² ≈ (1 - t)² s² less than at t = 0.
    | EdmWeighted

[<RequireQualifiedAccess>]
module PreconditioningKind =
    let text (k: PreconditioningKind) =
        match k with
        | PreconditioningKind.Plain -> "plain"
        | PreconditioningKind.Input -> "input"
        | PreconditioningKind.Edm -> "edm"
        | PreconditioningKind.EdmWeighted -> "edm-weighted"

    let parse (s: string) =
        match s.Trim().ToLowerInvariant() with
        | "plain" | "none" -> PreconditioningKind.Plain
        | "input" -> PreconditioningKind.Input
        | "edm" -> PreconditioningKind.Edm
        | "edm-weighted" -> PreconditioningKind.EdmWeighted
        | _ -> Check.dataError $"Unknown preconditioning '{s}'; expected plain, input, edm or edm-weighted."

[<RequireQualifiedAccess>]
module Preconditioning =
    let kind (p: Preconditioning) =
        match p with
        | Unscaled -> PreconditioningKind.Plain
        | ScaledInput _ -> PreconditioningKind.Input
        | ScaledInputOutput _ -> PreconditioningKind.Edm

    /// Number of groups of a layout: 2 per layer.
    let groupCount (layout: Layout) = 2 * Layout.depth layout

    /// Per-group values expanded to the flat order of `layout`: [P].
    let perCoordinate (layout: Layout) (values: float[]) : float32[] =
        let depth = Layout.depth layout
        if values.Length <> 2 * depth then
            invalidArg "values" $"Need {2 * depth} group values (weights then biases of each of {depth} layers) for {layout}; got {values.Length}."
        let out = Array.zeroCreate<float32> (Layout.paramCount layout)
        for l in 0 .. depth - 1 do
            let fin, fout = Layout.dims layout l
            Array.fill out (Layout.weightOffset layout l) (fin * fout) (float32 values[l])
            Array.fill out (Layout.biasOffset layout l) fout (float32 values[depth + l])
        out

    /// The RMS of each group of x [N, P] (all rows and coordinates of the group).
    let groupRms (layout: Layout) (x: Tensor) : float[] =
        Scope.noGrad (fun () ->
            Scope.value (fun () ->
                let depth = Layout.depth layout
                let sq = x.to_type(torch.float64).square()
                [| for l in 0 .. depth - 1 -> (Layout.weightT layout l sq).mean().ToDouble() |> sqrt
                   for l in 0 .. depth - 1 -> (Layout.bias layout l sq).mean().ToDouble() |> sqrt |]))

    /// Checks the scales against `layout`: 2L finite positive values each, σ finite and >= 0.
    let validate (layout: Layout) (s: PathScales) =
        let n = groupCount layout
        let ok (xs: float[]) = xs.Length = n && xs |> Array.forall (fun x -> Double.IsFinite x && x > 0.0)
        if not (ok s.Prior && ok s.Data && Double.IsFinite s.Sigma && s.Sigma >= 0.0) then
            invalidArg "scales" $"Preconditioning scales need {n} finite positive prior and data RMS values for {layout} and σ >= 0; got prior %A{s.Prior}, data %A{s.Data}, σ {s.Sigma}."

    /// The preconditioning of `kind` with fitted scales (Unscaled for Plain).
    let create (kind: PreconditioningKind) (layout: Layout) (scales: PathScales) : Preconditioning =
        match kind with
        | PreconditioningKind.Plain -> Unscaled
        | PreconditioningKind.Input -> validate layout scales; ScaledInput scales
        | PreconditioningKind.Edm | PreconditioningKind.EdmWeighted -> validate layout scales; ScaledInputOutput scales

    /// (c_in, c_skip, c_out) as [B, P] for times t [B] (or a scalar tensor) on `layout`, on `device`.
    let coefficients (s: PathScales) (layout: Layout) (t: Tensor) (device: Device) : Tensor * Tensor * Tensor =
        let prior = torch.tensor(perCoordinate layout (Array.map (fun x -> x * x) s.Prior), device = device)
        let data = torch.tensor(perCoordinate layout (Array.map (fun x -> x * x) s.Data), device = device)
        let tc = (Path.column t).to_type(torch.float32)
        let rest = tc.neg().add(scalar 1.0)
        let noise = rest.square() * prior + s.Sigma * s.Sigma   // (1 - t)² s² + σ²
        let d = noise + tc.square() * data
        let cIn = d.rsqrt()
        let cSkip = tc * data / d
        let cOut = (data * noise / d).sqrt()
        cIn, cSkip, cOut

    /// The model's output through the preconditioning on `layout`: `model` maps (t [B], input [B, P]) to F [B, P];
    /// the result is what the prediction kind reads as the raw output (x̂1 for Endpoint). Pure (the caller's scope
    /// owns the temporaries), like VelocityModel.On.
    let apply (p: Preconditioning) (layout: Layout) (model: Tensor -> Tensor -> Tensor) (t: Tensor) (xt: Tensor) : Tensor =
        match p with
        | Unscaled -> model t xt
        | ScaledInput s ->
            let cIn, _, _ = coefficients s layout t xt.device
            model t (xt * cIn)
        | ScaledInputOutput s ->
            let cIn, cSkip, cOut = coefficients s layout t xt.device
            cSkip * xt + cOut * model t (xt * cIn)

    /// EDM's weighted loss per network [B]: mean over coordinates of ((x̂1 - x1)/c_out)², the network's error on its
    /// unit-RMS target (PreconditioningKind.EdmWeighted); x̂1 is the (projected) prediction.
    let weightedLoss (s: PathScales) (layout: Layout) (t: Tensor) (xhat: Tensor) (x1: Tensor) : Tensor =
        let _, _, cOut = coefficients s layout t xhat.device
        ((xhat - x1) / cOut).square().mean([| 1L |])

    let private inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)
    let private list (xs: float[]) = xs |> Array.map inv |> String.concat ","

    /// Header entries ("flow.preconditioning", and the scales unless Unscaled).
    let toMetadata (p: Preconditioning) : (string * string) list =
        let scales (s: PathScales) = [ "flow.preconditioning.prior_rms", list s.Prior; "flow.preconditioning.data_rms", list s.Data ]
        ("flow.preconditioning", PreconditioningKind.text (kind p))
        :: (match p with Unscaled -> [] | ScaledInput s | ScaledInputOutput s -> scales s)

    /// Reads what `toMetadata` wrote (`tryGet` a header entry; files without the entry are Unscaled) for a flow of
    /// `layout` and path width σ; a malformed entry is a DataError naming `path`.
    let ofMetadata (path: string) (layout: Layout) (sigma: float) (tryGet: string -> string option) : Preconditioning =
        match tryGet "flow.preconditioning" with
        | None -> Unscaled
        | Some text ->
            let kind = PreconditioningKind.parse text
            if kind = PreconditioningKind.Plain then Unscaled
            else
                let values key =
                    match tryGet key with
                    | None -> Check.dataError $"{path}: flow.preconditioning is {text} but '{key}' is missing; the file was edited or damaged."
                    | Some v ->
                        v.Split(',') |> Array.map (fun x ->
                            match Double.TryParse(x, NumberStyles.Float, CultureInfo.InvariantCulture) with
                            | true, y when Double.IsFinite y && y > 0.0 -> y
                            | _ -> Check.dataError $"{path}: '{key}' holds '{x}', not a finite positive number; the file was edited or damaged.")
                let scales = { Prior = values "flow.preconditioning.prior_rms"; Data = values "flow.preconditioning.data_rms"; Sigma = sigma }
                let n = groupCount layout
                if scales.Prior.Length <> n || scales.Data.Length <> n then
                    Check.dataError $"{path}: the preconditioning scales need {n} values each for {layout}; got {scales.Prior.Length} and {scales.Data.Length}. The file was edited or damaged."
                create kind layout scales
