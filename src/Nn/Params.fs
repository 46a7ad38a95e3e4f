/// Parameter records (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.Params

let internal placeholder = ()
