/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Dataset

let internal placeholder = ()
