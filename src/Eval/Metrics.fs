/// Per-network quality on a split: accuracy, cross-entropy raw and after temperature calibration on the calibration
/// rows (`Calibration.rowsOf`: the training + validation splits by default; canonical networks have a fixed logit
/// scale, anchors P9), batched over the B networks.
[<RequireQualifiedAccess>]
module WeightFlow.Metrics

open TorchSharp

/// Quality of B networks on one evaluation split (usually the test split).
[<NoEquality; NoComparison>]
type NetworkMetrics =
    { /// Fraction correct: [B].
      Accuracy: Tensor
      /// Mean cross-entropy of softmax(z): [B].
      CrossEntropy: Tensor
      /// Mean cross-entropy of softmax(z / T_b), T_b fitted on the calibration rows: [B].
      CalibratedCrossEntropy: Tensor
      /// T_b and whether each fit stopped at its bound.
      Temperatures: Calibration.Temperatures
      /// The calibrated logits z / T_b on the evaluation split, [B, N, C], for BMA and diversity.
      CalibratedLogits: Tensor }

/// Quality of networks theta [B, P] on `split`, the temperatures fitted on `calibration` (usually
/// `Calibration.rowsOf config data`; `config.Rows` only names it there).
let compute (config: Calibration.CalibrationConfig) (layout: Layout) (calibration: Split) (split: Split) (theta: Tensor) : NetworkMetrics =
    use _ = torch.no_grad ()
    let temps =
        use calibrationLogits = Predictive.logits layout calibration.X theta
        Calibration.fit config calibrationLogits calibration.Y
    let z = Predictive.logits layout split.X theta
    let calibrated = Predictive.scale temps.Temperature z
    { Accuracy = Mlp.accuracyOfLogits z split.Y
      CrossEntropy = Mlp.crossEntropyOfLogits z split.Y
      CalibratedCrossEntropy = Mlp.crossEntropyOfLogits calibrated split.Y
      Temperatures = temps
      CalibratedLogits = calibrated }
