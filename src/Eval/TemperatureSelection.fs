/// Choosing a sampler's temperature τ (x0 = c + τ·(x0 − c), `Prior.sampleTempered`) on data that is not judged
/// (issue 12; the rule pre-stated in docs/uci/tau-selection.md, "R-τ"). A narrower draw (τ < 1) makes every sampler's
/// networks better one by one and less diverse; at τ = 0 a generator returns one network (a fitted Gaussian returns
/// the zoo mean, which beats every generator on per-network calibrated CE), so per-network quality alone rewards
/// collapse. The rule therefore picks, from a fixed grid, the τ with the best per-network validation cross-entropy
/// among the τs whose validation diversity is at least a fraction of the held-out checkpoints' (independent training
/// runs'), and applies the same rule to every generator and to the fitted-Gaussian baseline.
///
/// The score (`score`) is out of sample: each network's calibration temperature is fitted on the training split alone
/// and the networks are scored on the validation split, which neither the zoo nor the flows trained on and which the
/// judged columns do not score (they score the test split, after a temperature fitted on training + validation,
/// `Calibration.TrainingAndValidation`: a validation CE after that fit would be partly in-sample). The test split is
/// not read (tested).
[<RequireQualifiedAccess>]
module WeightFlow.TemperatureSelection

open TorchSharp

/// The rule's settings.
type Rule =
    { /// The candidate temperatures, fixed before any is scored.
      Grid: float list
      /// A candidate is eligible when its validation diversity is at least this fraction of the reference's (the
      /// held-out checkpoints').
      DiversityFloor: float
      /// Networks drawn per candidate.
      Count: int }

/// The pre-stated rule R-τ (docs/uci/tau-selection.md): τ ∈ {0.6, 0.7, ..., 1.2}, a floor of 0.5x the held-out
/// checkpoints' diversity (the main job's diversity bar, set before the rule), 128 networks per candidate (half the
/// tables' 256, to halve the cost of scoring seven temperatures).
let preStated = { Grid = [ 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ]; DiversityFloor = 0.5; Count = 128 }

/// One set of networks scored on the validation split.
type Score =
    { /// Mean over networks of the validation cross-entropy of softmax(z / T), T per network fitted on the training split.
      ValidationCrossEntropy: float
      /// Mean pairwise Jensen-Shannon divergence (D.1, `Diversity`) of the same calibrated validation predictions.
      Diversity: float }

/// A candidate temperature and its score.
type Candidate = { Temperature: float; Score: Score }

/// The rule's choice and why.
type Choice =
    /// The smallest validation CE among the candidates at or above the diversity floor.
    | BestAboveFloor of temperature: float
    /// No candidate reached the floor: the most diverse one.
    | NoneAboveFloor of temperature: float

/// The chosen temperature.
let temperature (c: Choice) =
    match c with
    | BestAboveFloor t
    | NoneAboveFloor t -> t

/// Scores networks theta [B, P] (B >= 2) of `layout` on `data`: temperatures fitted on the training split alone
/// (`calibration`'s bounds and iterations; its `Rows` is not used), cross-entropy and diversity on the validation split.
let score (calibration: Calibration.CalibrationConfig) (layout: Layout) (data: Dataset) (theta: Tensor) : Score =
    Check.arg "theta" (theta.shape[0] >= 2L) $"Scoring a temperature needs at least two networks (diversity is pairwise); got {theta.shape[0]}."
    Check.arg "data" (data.Valid.Y.shape[0] > 0L && data.Train.Y.shape[0] > 0L)
        "Choosing a temperature needs training rows (to calibrate) and validation rows (to score); use a data set with both."
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let m = Metrics.compute calibration layout data.Train data.Valid theta
        { ValidationCrossEntropy = m.CalibratedCrossEntropy.to_type(torch.float64).mean().ToDouble()
          Diversity = Diversity.ofLogits m.CalibratedLogits |> Option.get })

/// The rule: among the candidates with diversity >= `rule.DiversityFloor` x `reference` (and a finite CE), the one
/// with the smallest validation CE, exact ties to the τ closer to 1 (the prior as trained); if none, the most diverse
/// one (ties likewise).
let choose (rule: Rule) (reference: float) (candidates: Candidate list) : Choice =
    Check.arg "candidates" (not candidates.IsEmpty) "Choosing a temperature needs at least one candidate."
    Check.arg "reference" (System.Double.IsFinite reference && reference > 0.0)
        $"The reference diversity must be a finite positive number (the held-out checkpoints' validation diversity); got {reference}."
    let floor = rule.DiversityFloor * reference
    let eligible =
        candidates |> List.filter (fun c -> c.Score.Diversity >= floor && System.Double.IsFinite c.Score.ValidationCrossEntropy)
    match eligible with
    | [] ->
        let c = candidates |> List.minBy (fun c -> (if System.Double.IsFinite c.Score.Diversity then -c.Score.Diversity else infinity), abs (c.Temperature - 1.0))
        NoneAboveFloor c.Temperature
    | es ->
        let c = es |> List.minBy (fun c -> c.Score.ValidationCrossEntropy, abs (c.Temperature - 1.0))
        BestAboveFloor c.Temperature
