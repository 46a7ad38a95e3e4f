/// The prior p0 (thesis §6.3, anchors §5, P11): N(0, s² I) over every parameter, weights and biases, with s = 0.1
/// (the base models' initialisation scale), mapped into the flow's space (canonicalized for the Normalized and
/// Geometric flows: uniform directions for hidden neurons, a near-uniform direction for the last layer). Training
/// draws fresh samples every step rather than the anchor's fixed pool.
///
/// Optionally (issue 13, README "MNIST flows") the prior is the Gaussian fitted to the training targets: N(μ, diag σ²)
/// over the raw parameters, μ and σ the per-parameter mean and standard deviation of the (aligned) zoo — the "fitted
/// Gaussian" baseline of Table 7.2, made the flow's source. On the aligned MNIST zoo an equivariant flow from
/// N(0, s² I) must break the hidden neurons' symmetry from pure noise and stayed at chance accuracy on a CPU budget;
/// from the fitted Gaussian each prior neuron already sits near its aligned prototype, so the flow only has to move a
/// mediocre network (the fitted Gaussian's samples: ~0.5 accuracy) to a good one — the regime (t >= 0.5) in which
/// the isotropic flow's x̂1 was already good. The fit holds for the layout it was made on; wider layouts of the same
/// depth reuse the stats of hidden neuron k mod h (`sample`).
namespace WeightFlow

open TorchSharp

/// The Gaussian fitted to a layout's training targets: per raw parameter mean and standard deviation [P] (float32,
/// CPU). With `Standardized` (Euclidean flows only) the velocity model also works in the standardized coordinates
/// z = (θ - Mean) / Std: it reads z_t and writes ẑ1, the prediction is x̂1 = Mean + Std·ẑ1 and the training loss is
/// taken on z (`Prior.standardize`). The Euclidean path and Euler steps are affine-equivariant, so this is exactly a
/// flow from N(0, I) on the per-parameter standardized zoo: predicting ẑ1 = 0 (the zoo mean) costs the model nothing,
/// where a model on raw weights has to learn the mean's 7,950 values through its positional embeddings first.
[<NoComparison>]
type FittedGaussian = { Layout: Layout; Mean: Tensor; Std: Tensor; Standardized: bool }

/// Where the prior is centred.
[<NoComparison>]
type PriorCentre =
    /// N(0, Std² I): the thesis' prior (the default).
    | Origin
    /// A training setting: fit N(μ, diag σ²) to the training targets when training starts (Training.train), giving
    /// `Fitted`; `standardized` as in FittedGaussian.
    | FitToTargets of standardized: bool
    /// N(Mean, diag Std²) over the raw parameters of the fit's layout; the prior's Std is unused.
    | Fitted of FittedGaussian

[<NoComparison>]
type Prior = { Std: float; Centre: PriorCentre }

[<RequireQualifiedAccess>]
module Prior =
    /// s = 0.1, centred at the origin.
    let defaults = { Std = 0.1; Centre = Origin }

    /// The centre's name in file headers: origin, fitted, standardized (a fit to do or done alike).
    let centreText (c: PriorCentre) =
        match c with
        | Origin -> "origin"
        | FitToTargets false | Fitted { Standardized = false } -> "fitted"
        | FitToTargets true | Fitted { Standardized = true } -> "standardized"

    /// The fit, if the prior has one.
    let fitted (prior: Prior) : FittedGaussian option =
        match prior.Centre with Fitted g -> Some g | Origin | FitToTargets _ -> None

    /// The Gaussian fitted to raw targets [N, P] of `layout`: per-parameter mean and standard deviation (population,
    /// floored at 1e-6 so no coordinate is frozen).
    let fit (standardized: bool) (layout: Layout) (targets: Tensor) : PriorCentre =
        Check.shape "targets" [ int targets.shape[0]; Layout.paramCount layout ] targets
        Check.arg "targets" (targets.shape[0] >= 2L) $"Fitting a prior needs at least two target networks; got {targets.shape[0]}."
        Scope.noGrad (fun () ->
            let x = targets.cpu().to_type(torch.float64)
            let mean = x.mean([| 0L |]).to_type(torch.float32)
            let std = x.std(0L, false).clamp_min(scalar 1e-6).to_type(torch.float32)
            mean.DetachFromDisposeScope() |> ignore
            std.DetachFromDisposeScope() |> ignore
            Fitted { Layout = layout; Mean = mean; Std = std; Standardized = standardized })

    /// Per-parameter [P] of `target` from per-parameter [P] of `fitted` (same depth, same input and output widths,
    /// hidden widths >= the fitted ones): hidden neuron k of a layer takes the stats of fitted neuron k mod h, in every
    /// weight that touches it; the new neurons are copies of the fitted ones' distributions, not of their samples.
    let tile (fitted: Layout) (target: Layout) (v: Tensor) : Tensor =
        if fitted = target then v.alias()
        else
            let depth = Layout.depth fitted
            let bad = Layout.depth target <> depth || target.Widths[0] <> fitted.Widths[0] || target.Widths[depth] <> fitted.Widths[depth]
                      || Array.exists2 (fun a b -> a < b) target.Widths fitted.Widths
            if bad then
                Check.fail Check.ErrorKind.Mismatch $"The flow's prior was fitted to {fitted} networks; it extends only to layouts of the same depth, inputs and outputs with hidden layers at least as wide; got {target}. Sample that layout from a flow with the isotropic prior."
            let pick (n: int) (h: int) = torch.tensor([| for k in 0 .. n - 1 -> int64 (k % h) |])
            let row = v.unsqueeze(0L)
            let layers =
                [ for i in 0 .. depth - 1 ->
                    let outs = pick target.Widths[i + 1] fitted.Widths[i + 1]
                    let w = (Layout.weightT fitted i row).index_select(1L, pick target.Widths[i] fitted.Widths[i]).index_select(2L, outs)
                    { W = w.transpose(1L, 2L); B = (Layout.bias fitted i row).index_select(1L, outs) } ]
            (Layout.flatten target layers).squeeze(0L)

    /// B prior samples [B, P] for the space's layout (any layout the space was moved to with FlowSpace.forLayout),
    /// drawn from `gen` (CPU) and moved to `device`.
    let sample (prior: Prior) (space: FlowSpace) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        Check.arg "prior" (prior.Std > 0.0) $"The prior's standard deviation must be > 0; got {prior.Std}."
        Scope.run (fun () ->
            let p = Layout.paramCount space.Layout
            let eps = torch.randn([| int64 b; int64 p |], generator = gen, dtype = torch.float32)
            let x =
                match prior.Centre with
                | Origin -> eps.mul(scalar prior.Std)
                | Fitted g ->
                    let mean, std = tile g.Layout space.Layout g.Mean, tile g.Layout space.Layout g.Std
                    eps * std.unsqueeze(0L) + mean.unsqueeze(0L)
                | FitToTargets _ ->
                    invalidArg "prior" "The prior is still to be fitted to the training targets (FitToTargets); Training.train fits it, or call Prior.fit."
            FlowSpace.embed space (x.``to``(device)))

    /// The standardization of a `Standardized` fit on `layout` (tiled to it): (to z, from z) on [B, P] tensors, or
    /// None (identity) for any other prior.
    let standardize (prior: Prior) (layout: Layout) : ((Tensor -> Tensor) * (Tensor -> Tensor)) option =
        match prior.Centre with
        | Fitted ({ Standardized = true } as g) ->
            let mean = (tile g.Layout layout g.Mean).unsqueeze(0L)
            let std = (tile g.Layout layout g.Std).unsqueeze(0L)
            let onDevice (x: Tensor) (v: Tensor) = if v.device = x.device then v else v.``to``(x.device)
            Some ((fun x -> (x - onDevice x mean) / onDevice x std), (fun z -> z * onDevice z std + onDevice z mean))
        | _ -> None
