/// Classification data held as tensors: a seeded train/validation/test split, standardized with statistics of the
/// training split only (the thesis code fits the scaler on all rows, a leak; anchors P18).
namespace WeightFlow

open System
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

    /// The number of classes C of labels y [N] that must be exactly {0, ..., C-1}, C >= 2. Labels with gaps (e.g.
    /// {0, 1, 7}) are refused rather than remapped: a remapped class index would silently differ from the user's label
    /// in every output; the error names the missing labels and the fix (issue 15).
    let classesOf (name: string) (y: Tensor) : int =
        if y.numel() = 0L then Check.fail Check.ErrorKind.InvalidData $"{name}: no rows."
        use yc = y.cpu().to_type(torch.int64)
        let labels = yc.data<int64>().ToArray() |> Array.distinct |> Array.sort
        let lo, hi = labels[0], Array.last labels
        if lo < 0L then Check.fail Check.ErrorKind.InvalidData $"{name}: label {lo} is negative; encode classes as 0..C-1."
        if labels.Length < 2 then
            Check.fail Check.ErrorKind.InvalidData $"{name}: every row has label {lo}; a classification task needs at least two classes."
        if int64 labels.Length <> hi + 1L then
            let present = Collections.Generic.HashSet<int64>(labels)
            let missing = seq { 0L .. min hi 1_000_000L } |> Seq.filter (present.Contains >> not) |> Seq.truncate 8 |> Seq.map string |> String.concat ", "
            let shown = (labels |> Array.truncate 8 |> Array.map string |> String.concat ", ") + (if labels.Length > 8 then ", ..." else "")
            let missing = missing + (if hi + 1L - int64 labels.Length > 8L then ", ..." else "")
            Check.fail Check.ErrorKind.InvalidData
                $"{name}: the labels are {{{shown}}}, not 0..C-1 (missing {missing}); WeightFlow does not remap labels. Relabel the classes as 0..{labels.Length - 1} (e.g. by their sorted order)."
        int hi + 1

    /// The rows of each split of n rows: train round(f_train n), validation round(f_valid n), test the rest.
    let splitSizes (fractions: SplitFractions) (n: int) =
        let nTrain = int (round (fractions.Train * float n))
        let nValid = int (round (fractions.Valid * float n))
        nTrain, nValid, n - nTrain - nValid

    /// Requires every split of n rows to get at least one row (issue 15: a one-row CSV trained a zoo that reported
    /// `NaN ± NaN`).
    let checkSize (name: string) (fractions: SplitFractions) (n: int) =
        let a, b, c = splitSizes fractions n
        if a < 1 || b < 1 || c < 1 then
            Check.fail Check.ErrorKind.InvalidData $"{name}: the data set is too small for its train/validation/test split: {n} row(s) give training {a}, validation {b}, test {c}. Every split needs at least one row of every class; provide at least 10 rows per class."

    /// The labels of the splits a seeded permutation makes (rows [0, nTrain), [nTrain, nTrain + nValid), the rest).
    let splitLabels (perm: Tensor) (nTrain: int) (nValid: int) (y: Tensor) : (string * Tensor) list =
        let n = int perm.shape[0]
        let part start len = y.index_select(0L, perm.narrow(0L, int64 start, int64 len))
        [ "training", part 0 nTrain; "validation", part nTrain nValid; "test", part (nTrain + nValid) (n - nTrain - nValid) ]

    /// Requires every split to hold at least one row of every class (issue 15: a one-row data set used to train and
    /// report `NaN ± NaN`); the error names the split, its size and the fix.
    let checkSplits (name: string) (classes: int) (splits: (string * Tensor) list) =
        for splitName, y in splits do
            let n = int y.shape[0]
            if n = 0 then
                let sizes = splits |> List.map (fun (k, y) -> $"{k} {y.shape[0]}") |> String.concat ", "
                Check.fail Check.ErrorKind.InvalidData $"{name}: the data set is too small for its train/validation/test split ({sizes} rows): the {splitName} split is empty. Provide at least {10 * classes} rows (at least one of every class per split)."
            use yc = y.cpu().to_type(torch.int64)
            let counts = Array.zeroCreate<int> classes
            for v in yc.data<int64>().ToArray() do
                if v >= 0L && v < int64 classes then counts[int v] <- counts[int v] + 1
            match counts |> Array.tryFindIndex ((=) 0) with
            | Some c ->
                Check.fail Check.ErrorKind.InvalidData $"{name}: the {splitName} split ({n} rows) has no row of class {c}; every split needs every class. Provide more rows of class {c}, or try another split seed."
            | None -> ()

    /// Shuffles rows with a seeded generator, splits them, and standardizes every split with training statistics.
    let split (name: string) (classes: int) (seed: int64) (fractions: SplitFractions) (x: Tensor) (y: Tensor) : Dataset =
        validate name classes x y
        let n = int x.shape[0]
        checkSize name fractions n
        use g = Scope.Rng.create seed
        let perm = torch.randperm(int64 n, generator = g)
        let nTrain, nValid, _ = splitSizes fractions n
        checkSplits name classes (splitLabels perm nTrain nValid y)
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

    /// Requires networks of `layout` to fit the data: as many inputs as features and outputs as classes. Networks
    /// read from a file and a task from an option that do not belong together are one Mismatch error naming both
    /// (issue 15), not a shape error deep inside a forward pass.
    let checkFits (what: string) (layout: Layout) (d: Dataset) =
        let inputs, outputs = layout.Widths[0], Array.last layout.Widths
        if inputs <> d.Features || outputs <> d.Classes then
            Check.fail Check.ErrorKind.Mismatch
                $"{what} are {layout} MLPs ({inputs} inputs, {outputs} outputs) but the {d.Name} data has {d.Features} features and {d.Classes} classes; pass the task the networks were trained on (--task)."

    /// Moves every split to a device.
    let toDevice (device: Device) (d: Dataset) : Dataset =
        let mv (s: Split) = { X = s.X.``to``(device); Y = s.Y.``to``(device) }
        { d with Train = mv d.Train; Valid = mv d.Valid; Test = mv d.Test }
