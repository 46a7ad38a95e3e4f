/// Canonicalization (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Canonical

let internal placeholder = ()
