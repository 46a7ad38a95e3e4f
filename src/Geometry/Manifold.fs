/// Manifolds as records of batched functions (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Manifold

let internal placeholder = ()
