/// Product manifolds over segments of the flat vector (issue 3).
[<RequireQualifiedAccess>]
module WeightFlow.Product

let internal placeholder = ()
