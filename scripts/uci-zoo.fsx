#!/usr/bin/env -S dotnet fsi
// A UCI zoo as a script: train 20 runs as one batch, save them, and look at the final checkpoints.
//   dotnet fsi scripts/uci-zoo.fsx
#load "_load.fsx"

open System.Threading
open WeightFlow

let config = { ZooConfig.uci with Runs = 20; Seed = 1L }
let data = Sources.load Task.Uci config.Seed
let zoo = Zoo.train config Task.Uci data ignore CancellationToken.None
let summary = ZooSummary.ofZoo zoo
printfn "%d checkpoints of a %O MLP; final test accuracy %.4f +- %.4f"
    summary.Checkpoints zoo.Layout summary.FinalAccuracyMean summary.FinalAccuracyStd

// Every checkpoint is a row of zoo.Theta [N, P]; a batch of networks runs as one model.
let finals = zoo.Theta.index_select(0L, TorchSharp.torch.tensor(Zoo.finalIndices zoo |> Array.map int64))
let accuracy = Mlp.accuracy zoo.Layout finals data.Test.X data.Test.Y
printfn "recomputed final accuracies: %A" (T.toArray accuracy |> Array.truncate 5)

System.IO.Directory.CreateDirectory "results/scripts" |> ignore
Zoo.save "results/scripts/uci-zoo.safetensors" zoo
