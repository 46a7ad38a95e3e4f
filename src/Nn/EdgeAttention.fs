/// Sparse edge attention (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.EdgeAttention

let internal placeholder = ()
