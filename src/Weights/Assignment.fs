/// Linear assignment (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Assignment

let internal placeholder = ()
