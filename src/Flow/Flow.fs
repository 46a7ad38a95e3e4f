/// A trained flow, as the sampler, the likelihood and the evaluation use it (issue 11): its space (manifold,
/// canonicalization, path), the layout it was trained on, the prior, and the endpoint predictor x̂1(t, x_t) of the
/// EMA model. Everything here runs on any layout of the same depth the model supports (the RT and PNA run on wider
/// hidden layers, thesis §7.3.4; the MLP raises a clear error).
///
/// API (small and stable; Flow/Sampling and Likelihood build on it):
///   Flow.predict flow t x_t          -> x̂1 [B, P], projected onto the space (t [B], x_t [B, P], no_grad is the caller's)
///   Flow.predictOn flow layout t x_t -> the same on another layout of the same depth
///   Flow.space flow / Flow.spaceOn flow layout -> the FlowSpace (Manifold, Path, Canonical) for a layout
///   Flow.samplePrior flow gen device b / Flow.samplePriorOn flow layout gen device b -> x0 [B, P] in the space
///   Flow.save path flow / Flow.load device path
namespace WeightFlow

open TorchSharp

[<NoEquality; NoComparison>]
type Flow =
    { /// The space on the layout the flow was trained on.
      Space: FlowSpace
      Prior: Prior
      Prediction: Prediction
      /// The model that predicts (the EMA of the trained weights).
      Model: VelocityModel }

[<RequireQualifiedAccess>]
module Flow =
    /// The layout the flow was trained on.
    let layout (flow: Flow) = flow.Space.Layout

    /// The flow's space on the trained layout.
    let space (flow: Flow) = flow.Space

    /// The flow's space on another layout of the same depth.
    let spaceOn (flow: Flow) (layout: Layout) = FlowSpace.forLayout layout flow.Space

    /// x̂1 for networks of `layout`: the model's endpoint prediction projected onto the space (canonicalized for the
    /// Normalized and Geometric flows). A velocity-prediction model's output v is turned into an endpoint by one
    /// step to t = 1: x_t + (1 - t) v, or exp_{x_t}((1 - t) proj v) on the Geometric flow's manifold.
    let predictOn (flow: Flow) (layout: Layout) (t: Tensor) (xt: Tensor) : Tensor =
        let s = spaceOn flow layout
        Scope.run (fun () ->
            let model = Preconditioning.apply s.Preconditioning layout (flow.Model.On layout)
            match Prior.standardize flow.Prior layout with
            | None -> Objective.endpoint flow.Prediction s t xt (model t xt)
            | Some (toZ, ofZ) ->
                // a standardized flow's model works on z = (x - μ)/s (Prior.fs); Euclidean only, so no projection
                let zt = toZ xt
                ofZ (Objective.endpoint flow.Prediction s t zt (Prior.withSkip flow.Prior t zt (model t zt))))

    /// x̂1 on the trained layout: t [B], x_t [B, P] -> [B, P].
    let predict (flow: Flow) (t: Tensor) (xt: Tensor) : Tensor = predictOn flow (layout flow) t xt

    /// B prior samples in the flow's space for networks of `layout`.
    let samplePriorOn (flow: Flow) (layout: Layout) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        Prior.sample flow.Prior (spaceOn flow layout) gen device b

    /// B prior samples on the trained layout.
    let samplePrior (flow: Flow) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        samplePriorOn flow (layout flow) gen device b

    /// Header entries describing the flow (kind, σ, prior, prediction) beside the model's.
    let toMetadata (flow: Flow) : (string * string) list =
        [ "flow.kind", FlowKind.text flow.Space.Kind
          "flow.sigma", flow.Space.Sigma.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
          "flow.prior_std", flow.Prior.Std.ToString("R", System.Globalization.CultureInfo.InvariantCulture)
          "flow.prediction", Prediction.text flow.Prediction ]
        @ (match flow.Prior.Centre with
           | Fitted g ->
               [ "flow.prior_centre", Prior.centreText flow.Prior.Centre; "flow.prior_layout", string g.Layout ]
               @ (match g.Covariance with
                  | Some cov -> ("flow.prior_rank", string cov.Factor.shape[0]) :: (if cov.LinearSkip then [ "flow.prior_skip", "linear" ] else [])
                  | None -> [])
           | Origin | FitToTargets _ | FitFullToTargets _ -> [])
        @ Preconditioning.toMetadata flow.Space.Preconditioning
        @ VelocityModel.toMetadata flow.Model.Config flow.Model.Layout

    /// The fitted prior's tensors ("prior.mean", "prior.std"; with a full covariance "prior.factor" [K, P] and
    /// "prior.residual"), or none.
    let priorTensors (flow: Flow) : (string * Tensor) list =
        match flow.Prior.Centre with
        | Fitted g ->
            [ "prior.mean", g.Mean; "prior.std", g.Std ]
            @ (match g.Covariance with Some cov -> [ "prior.factor", cov.Factor; "prior.residual", cov.Residual ] | None -> [])
        | Origin | FitToTargets _ | FitFullToTargets _ -> []

    /// Writes a flow (the EMA model's parameters under "ema.") atomically, with extra header entries (e.g. the
    /// training settings and the held-out runs).
    let saveWith (path: string) (extra: (string * string) list) (flow: Flow) =
        Storage.write path (Map.ofList (extra @ ("weightflow.kind", "flow") :: toMetadata flow))
            ([ for n, p in flow.Model.Parameters -> "ema." + n, p :> Tensor ] @ priorTensors flow)

    /// Writes a flow alone.
    let save (path: string) (flow: Flow) = saveWith path [] flow

    /// Reads a flow from a file written by `save` or by training (a checkpoint holds the same entries).
    let load (device: Device) (path: string) : Flow =
        let s = Storage.readKind [ "flow"; "flow-checkpoint" ] "a flow file" "Train a flow with `weightflow train --zoo ZOO --out FILE`." path
        let get = Storage.meta path s
        try
            let config, layout, kind, sigma, priorStd, prediction =
                Storage.interpret path "a flow" (fun () ->
                    let config, layout = VelocityModel.ofMetadata get s.Metadata.TryFind
                    let f (k: string) = System.Double.Parse(get k, System.Globalization.CultureInfo.InvariantCulture)
                    let prediction =
                        match get "flow.prediction" with
                        | "velocity" -> Velocity
                        | "endpoint" -> Endpoint
                        | "endpoint-via-velocity" -> EndpointViaVelocity
                        | p -> Check.dataError $"{path}: unknown flow.prediction '{p}' (expected endpoint, velocity or endpoint-via-velocity)."
                    config, layout, FlowKind.parse (get "flow.kind"), f "flow.sigma", f "flow.prior_std", prediction)
            if not (System.Double.IsFinite sigma && sigma >= 0.0 && System.Double.IsFinite priorStd && priorStd > 0.0) then
                Check.dataError $"{path}: flow.sigma = {sigma} and flow.prior_std = {priorStd} must be finite, σ >= 0 and the prior's std > 0; the file was edited or damaged."
            // bound what the header can make us allocate before building the model (issue 15): the model's
            // parameters must all be stored in the file, so a header describing a model far larger than the stored
            // tensors lies about its sizes
            VelocityModel.checkSize path config layout (s.Tensors |> List.sumBy (fun (n, t) -> if n.StartsWith "ema." then t.numel() else 0L))
            use gen = Scope.Rng.create 0L
            let model = Storage.interpret path "a flow" (fun () -> VelocityModel.init gen device config layout)
            VelocityModel.copyFrom path "ema." s.Tensors model.Parameters
            let centre =
                match s.Metadata.TryFind "flow.prior_centre" with
                | None | Some "origin" -> Origin
                | Some ("fitted" | "standardized" | "fitted-full" | "standardized-full" as name) ->
                    let priorLayout = Storage.interpret path "a flow" (fun () -> Layout.parse (get "flow.prior_layout"))
                    let tensor (name: string) =
                        match s.Tensors |> List.tryFind (fun (n, _) -> n = name) with
                        | Some (_, t) when t.dim() = 1L && int t.shape[0] = Layout.paramCount priorLayout -> t.to_type(torch.float32).clone()
                        | _ -> Check.dataError $"{path}: the fitted prior needs a tensor {name} of {Layout.paramCount priorLayout} values (flow.prior_layout {priorLayout}); the file was edited or damaged."
                    let std = tensor "prior.std"
                    if not ((use ok = (std.isfinite().all().logical_and(std.gt(scalar 0.0).all())) in ok.ToBoolean())) then
                        Check.dataError $"{path}: the fitted prior's standard deviations must be finite and > 0; the file was edited or damaged."
                    let standardized = name.StartsWith "standardized"
                    if standardized && kind <> Euclidean then
                        Check.dataError $"{path}: a standardized prior needs the Euclidean flow, but flow.kind is {FlowKind.text kind}; the file was edited or damaged."
                    let covariance =
                        if not (name.EndsWith "-full") then None
                        else
                            let rank = Storage.interpret path "a flow" (fun () -> int (get "flow.prior_rank"))
                            let p = Layout.paramCount priorLayout
                            let factor =
                                match s.Tensors |> List.tryFind (fun (n, _) -> n = "prior.factor") with
                                | Some (_, t) when t.dim() = 2L && t.shape[0] = int64 rank && t.shape[1] = int64 p && rank >= 1 ->
                                    t.to_type(torch.float32).clone()
                                | _ -> Check.dataError $"{path}: the full-covariance prior needs a tensor prior.factor of {rank} x {p} values (flow.prior_rank, flow.prior_layout {priorLayout}); the file was edited or damaged."
                            let residual = tensor "prior.residual"
                            if not ((use ok = factor.isfinite().all().logical_and(residual.isfinite().all()).logical_and(residual.gt(scalar 0.0).all()) in ok.ToBoolean())) then
                                Check.dataError $"{path}: the full-covariance prior's factor must be finite and its residual deviations finite and > 0; the file was edited or damaged."
                            let skip =
                                match s.Metadata.TryFind "flow.prior_skip" with
                                | None -> false
                                | Some "linear" when standardized -> true
                                | Some other -> Check.dataError $"{path}: flow.prior_skip '{other}' needs a standardized prior and must be 'linear'; the file was edited or damaged."
                            Some { Factor = factor; Residual = residual; LinearSkip = skip }
                    Fitted { Layout = priorLayout; Mean = tensor "prior.mean"; Std = std; Standardized = standardized; Covariance = covariance }
                | Some other -> Check.dataError $"{path}: unknown flow.prior_centre '{other}' (expected origin, fitted, standardized, fitted-full or standardized-full)."
            let preconditioning = Preconditioning.ofMetadata path layout sigma s.Metadata.TryFind
            { Space = { FlowSpace.create kind sigma layout with Preconditioning = preconditioning }
              Prior = { Std = priorStd; Centre = centre }
              Prediction = prediction
              Model = model }
        finally
            for _, t in s.Tensors do t.Dispose()
