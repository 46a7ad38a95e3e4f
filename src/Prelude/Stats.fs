/// Summary statistics of reported figures, with the one standard-deviation convention the library uses for them: the
/// sample standard deviation (denominator n − 1, numpy's ddof=1, torch's default `std`), and 0 for a single value.
/// (Feature standardization in `Dataset.standardize` is a different use: it divides by the training split's
/// population std, denominator n, as scikit-learn's StandardScaler does.)
[<RequireQualifiedAccess>]
module WeightFlow.Stats

/// Mean and sample standard deviation of the values; (nan, nan) for none, std 0 for one.
let meanStd (xs: float[]) : float * float =
    if xs.Length = 0 then nan, nan
    else
        let m = Array.average xs
        let s = if xs.Length < 2 then 0.0 else sqrt (Array.sumBy (fun x -> (x - m) ** 2.0) xs / float (xs.Length - 1))
        m, s

/// Mean and sample standard deviation of a tensor's elements (see `meanStd`).
let meanStdOf (t: Tensor) : float * float = meanStd (T.toArray64 t)
