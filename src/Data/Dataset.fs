/// Classification data held as tensors: a seeded train/validation/test split, standardized with statistics of the
/// training split only (the thesis code fits the scaler on all rows, a leak; anchors P18).
namespace WeightFlow

open TorchSharp

/// Features [N, d] float32 and labels [N] int64.
[<NoEquality; NoComparison>]
type Split = { X: Tensor; Y: Tensor }

/// A classification task with its three splits.
[<NoEquality; NoComparison>]
type Dataset =
    { Name: string
      Features: int
      Classes: int
      Train: Split
      Valid: Split
      Test: Split }

/// Fractions of the rows in each split; the test split gets the rest.
type SplitFractions = { Train: float; Valid: float }

[<RequireQualifiedAccess>]
module Dataset =
    /// The anchors' UCI split: 80% train, 10% validation, 10% test.
    let defaultFractions = { Train = 0.8; Valid = 0.1 }

    /// Number of rows of a split.
    let count (s: Split) = int s.X.shape[0]

    /// Rows `idx` of a split.
    let take (s: Split) (idx: Tensor) : Split = { X = s.X.index_select(0L, idx); Y = s.Y.index_select(0L, idx) }

    /// Per-feature mean and std of the training rows (std of a constant feature is taken as 1). The std is the
    /// population one (denominator n), as scikit-learn's StandardScaler; reported spreads use `Stats` (n − 1).
    let standardizer (train: Split) : Tensor * Tensor =
        let mean = train.X.mean([| 0L |])
        let std = train.X.std(0L, false)
        let std = torch.where(std.lt(scalar 1e-12), torch.ones_like std, std)
        mean, std

    /// Applies (x - mean) / std.
    let standardize (mean: Tensor, std: Tensor) (s: Split) : Split = { s with X = (s.X - mean) / std }

    /// Checks features and labels: shapes, finiteness, labels in [0, classes).
    let validate (name: string) (classes: int) (x: Tensor) (y: Tensor) =
        if x.dim() <> 2L then invalidArg name $"{name}: features must be a matrix [N, d]; got shape %A{x.shape}."
        if y.dim() <> 1L || y.shape[0] <> x.shape[0] then
            invalidArg name $"{name}: {x.shape[0]} feature rows but labels of shape %A{y.shape}; each row needs one label."
        Check.finite name "Remove or impute the rows with missing values." x
        if y.numel() > 0L then
            let lo, hi = y.min().ToInt64(), y.max().ToInt64()
            if lo < 0L || hi >= int64 classes then
                invalidArg name $"{name}: labels must lie in [0, {classes - 1}] but range over [{lo}, {hi}]; encode classes as 0..C-1."

    /// Shuffles rows with a seeded generator, splits them, and standardizes every split with training statistics.
    let split (name: string) (classes: int) (seed: int64) (fractions: SplitFractions) (x: Tensor) (y: Tensor) : Dataset =
        validate name classes x y
        let n = int x.shape[0]
        use g = Scope.Rng.create seed
        let perm = torch.randperm(int64 n, generator = g)
        let nTrain = int (round (fractions.Train * float n))
        let nValid = int (round (fractions.Valid * float n))
        let all = { X = x.to_type(torch.float32); Y = y.to_type(torch.int64) }
        let part start len = take all (perm.narrow(0L, int64 start, int64 len))
        let train = part 0 nTrain
        let stats = standardizer train
        { Name = name
          Features = int x.shape[1]
          Classes = classes
          Train = standardize stats train
          Valid = standardize stats (part nTrain nValid)
          Test = standardize stats (part (nTrain + nValid) (n - nTrain - nValid)) }

    /// Moves every split to a device.
    let toDevice (device: Device) (d: Dataset) : Dataset =
        let mv (s: Split) = { X = s.X.``to``(device); Y = s.Y.``to``(device) }
        { d with Train = mv d.Train; Valid = mv d.Valid; Test = mv d.Test }
