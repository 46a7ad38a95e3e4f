/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Csv

let internal placeholder = ()
