/// Re-basin alignment (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Rebasin

let internal placeholder = ()
