/// Relational Transformer (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.RelationalTransformer

let internal placeholder = ()
