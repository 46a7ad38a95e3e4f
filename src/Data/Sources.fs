/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Sources

let internal placeholder = ()
