/// PNA (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.Pna

let internal placeholder = ()
