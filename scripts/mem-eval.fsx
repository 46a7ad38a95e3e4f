// Issue 13 memory probe of the library's evaluation (docs/results/memory-mnist.md, "The fix"): the stages of
// scripts/mem-probe.fsx (read back from its cache folder OUT), then `Evaluation.prepare` and `Evaluation.evaluate`
// called as the pipelines call them (not unrolled), with VmHWM after each: the peak the pipelines see.
//
//   OUT=results/mem/full WEIGHTFLOW_THREADS=2 /usr/bin/time -v dotnet fsi scripts/mem-eval.fsx
#load "_mem_stages.fsx"
open _mem_stages
open TorchSharp
open WeightFlow

let ctx = Evaluation.prepare config aligned.Layout data (Some (reference, training0, judge))
log "STAGE Evaluation.prepare done"
let row = Evaluation.evaluate ctx n.Name theta
log $"STAGE Evaluation.evaluate done: accuracy {row.AccuracyMean:F4}, novelty {row.NoveltyRatio}"
