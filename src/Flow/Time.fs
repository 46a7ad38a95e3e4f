/// The distribution of flow times t during training (thesis §6.3, anchors §5): Beta(1, 2) by default, density
/// 2(1 - t), which spends more steps at small t where the prior sample says least about the target; uniform as an
/// option. Sampled by the inverse CDF from an explicit generator, so a seed fixes every t.
namespace WeightFlow

open TorchSharp

/// How training draws t ∈ [0, 1].
type TimeDistribution =
    /// U(0, 1).
    | Uniform
    /// Beta(a, b) with a = 1 or b = 1, the cases with a closed-form inverse CDF: Beta(1, b): t = 1 - (1 - u)^(1/b);
    /// Beta(a, 1): t = u^(1/a). The thesis uses Beta(1, 2).
    | Beta of a: float * b: float

[<RequireQualifiedAccess>]
module TimeDistribution =
    /// Beta(1, 2) (thesis, anchors §5).
    let defaults = Beta(1.0, 2.0)

    let validate (d: TimeDistribution) =
        match d with
        | Uniform -> ()
        | Beta(a, b) ->
            Check.arg "time" (a > 0.0 && b > 0.0) $"Beta time needs positive parameters; got Beta({a}, {b})."
            Check.arg "time" (a = 1.0 || b = 1.0) $"Beta({a}, {b}) has no closed-form sampler here; use a = 1 or b = 1 (e.g. the thesis' Beta(1, 2)) or Uniform."

    /// B times [B] float32 on `device`, from `gen` (CPU).
    let sample (d: TimeDistribution) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        validate d
        Scope.run (fun () ->
            let u = torch.rand([| int64 b |], generator = gen, dtype = torch.float64)
            let t =
                match d with
                | Uniform -> u
                | Beta(1.0, bb) -> (u.neg().add(scalar 1.0)).pow(scalar (1.0 / bb)).neg().add(scalar 1.0)
                | Beta(a, _) -> u.pow(scalar (1.0 / a))
            t.to_type(torch.float32).``to``(device))

    /// "beta(1,2)" / "uniform" (for file headers and reports).
    let text (d: TimeDistribution) = match d with Uniform -> "uniform" | Beta(a, b) -> $"beta({a},{b})"

    let parse (s: string) : TimeDistribution =
        match s.Replace(" ", "") with
        | "uniform" -> Uniform
        | s when s.StartsWith "beta(" && s.EndsWith ")" ->
            match s.Substring(5, s.Length - 6).Split(',') with
            | [| a; b |] -> Beta(float a, float b)
            | _ -> Check.dataError $"Cannot read the time distribution '{s}'; expected beta(a,b) or uniform."
        | _ -> Check.dataError $"Cannot read the time distribution '{s}'; expected beta(a,b) or uniform."
