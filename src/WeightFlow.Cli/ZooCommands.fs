module WeightFlow.Cli.ZooCommands

open Argu
open WeightFlow.Cli.Args

let run (_: ParseResults<RunArgs>) : int = failwith "todo"
let zoo (_: ParseResults<ZooArgs>) : int = failwith "todo"
let info (_: ParseResults<InfoArgs>) : int = failwith "todo"
let bench (_: ParseResults<BenchTargetArgs>) : int = failwith "todo"
