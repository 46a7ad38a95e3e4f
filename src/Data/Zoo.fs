/// (issue 2)
[<RequireQualifiedAccess>]
module WeightFlow.Zoo

let internal placeholder = ()
