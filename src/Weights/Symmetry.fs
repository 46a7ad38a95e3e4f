/// Permutation and ReLU-scaling actions (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Symmetry

let internal placeholder = ()
