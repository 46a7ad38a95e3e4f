/// MLP as a neural graph (issue 4).
[<RequireQualifiedAccess>]
module WeightFlow.NeuralGraph

let internal placeholder = ()
