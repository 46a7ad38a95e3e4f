module WeightFlow.Cli.DataCommands

open Argu
open WeightFlow.Cli.Args

let prepare (_: ParseResults<PrepareArgs>) : int = failwith "todo"
