/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Storage

let internal placeholder = ()
