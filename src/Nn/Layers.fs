/// Layer combinators (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.Layers

let internal placeholder = ()
