/// `weightflow bench model` (issue 4).
module WeightFlow.Cli.ModelCommands

open Argu
open WeightFlow.Cli.Args

let bench (_: ParseResults<BenchTargetArgs>) : int = failwith "weightflow bench model: not built yet (issue 4)"
