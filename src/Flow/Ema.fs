/// An exponential moving average of a model's parameters (Polyak averaging), the weights a trained flow samples
/// with: evaluation-findings.md saw a plain MLP flow without it drift to oversized weights and bad outliers.
/// shadow ← d·shadow + (1 - d)·θ after every optimizer step, with d = min(Decay, (1 + n)/(10 + n)) at update n so
/// the average forgets the random initialisation within the first steps.
namespace WeightFlow

open TorchSharp

[<NoEquality; NoComparison>]
type Ema =
    { Decay: float
      /// A model of the same configuration whose parameters are the average.
      Model: VelocityModel
      mutable Updates: int }

[<RequireQualifiedAccess>]
module Ema =
    /// An average starting at the model's current parameters (a second model of the same configuration).
    let create (decay: float) (device: Device) (model: VelocityModel) : Ema =
        Check.arg "decay" (decay >= 0.0 && decay < 1.0) $"The EMA decay must lie in [0, 1); got {decay}."
        use gen = Scope.Rng.create 0L
        let shadow = VelocityModel.init gen device model.Config model.Layout
        use _ = torch.no_grad ()
        for (_, s), (_, p) in List.zip shadow.Parameters model.Parameters do s.copy_(p) |> ignore
        { Decay = decay; Model = shadow; Updates = 0 }

    /// The decay used at update n.
    let decayAt (ema: Ema) (n: int) = min ema.Decay ((1.0 + float n) / (10.0 + float n))

    /// One update from the model's current parameters.
    let update (ema: Ema) (model: VelocityModel) =
        use _ = torch.no_grad ()
        let d = decayAt ema ema.Updates
        for (_, s), (_, p) in List.zip ema.Model.Parameters model.Parameters do
            s.mul_(scalar d).add_(p, alpha = scalar (1.0 - d)) |> ignore
        ema.Updates <- ema.Updates + 1
