/// A training run cancelled after a given step and then resumed from its checkpoint: the setting of every
/// resume-reproduces-the-run test (TestTraining, TestPreconditioning).
module WeightFlow.Tests.Interrupted

open System.IO
open System.Threading
open TorchSharp
open WeightFlow

/// Trains `c`, cancelling after `step` (the checkpoint is saved at a fresh temp path), then trains again from that
/// checkpoint to the end; `check` gets the cancelled run, the resumed run and the checkpoint path, which is deleted
/// afterwards.
let trainResumed (name: string) (step: int) (c: TrainingConfig) (layout: Layout) (x: torch.Tensor)
                 (check: TrainingResult -> TrainingResult -> string -> unit) =
    let path = TempFiles.safetensors name
    try
        use cts = new CancellationTokenSource()
        let first = Training.train c layout x (Some path) (fun p -> if p.Step = step then cts.Cancel()) cts.Token
        let rest = Training.train c layout x (Some path) ignore CancellationToken.None
        check first rest path
    finally if File.Exists path then File.Delete path
