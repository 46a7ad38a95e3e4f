/// `weightflow align`, `weightflow barrier`, `weightflow bench align` (issue 3).
module WeightFlow.Cli.AlignCommands

open Argu
open WeightFlow.Cli.Args

let align (_: ParseResults<AlignArgs>) : int = failwith "weightflow align: not built yet (issue 3)"
let barrier (_: ParseResults<BarrierArgs>) : int = failwith "weightflow barrier: not built yet (issue 3)"
let bench (_: ParseResults<BenchTargetArgs>) : int = failwith "weightflow bench align: not built yet (issue 3)"
