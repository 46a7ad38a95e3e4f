/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Idx

let internal placeholder = ()
