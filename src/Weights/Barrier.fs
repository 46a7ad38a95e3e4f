/// Loss barriers (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Barrier

let internal placeholder = ()
