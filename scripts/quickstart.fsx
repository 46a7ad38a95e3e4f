#!/usr/bin/env -S dotnet fsi
// The whole pipeline in one script: a UCI zoo, a Geometric flow on it, 16 sampled networks and their evaluation, with
// the same core functions the CLI calls (`weightflow zoo | train | sample | eval`).
//   dotnet fsi scripts/quickstart.fsx            (the CPU preset: a few minutes on 2 cores)
//   dotnet fsi scripts/quickstart.fsx --tiny     (seconds; what CI runs)
#load "_load.fsx"

open System.Threading
open TorchSharp
open WeightFlow

let tiny = fsi.CommandLineArgs |> Array.contains "--tiny"
let ct = CancellationToken.None

// 1. A zoo: independent runs of the 30-16-16-2 MLP trained as one batched model (thesis appendix A).
let zooConfig = if tiny then { ZooConfig.uci with Runs = 6; Epochs = 3; DropEpochs = 2 } else ZooConfig.uci
let data = Sources.load Task.Uci zooConfig.Seed
let zoo = Zoo.train zooConfig Task.Uci data ignore ct
printfn "zoo: %d checkpoints, final test accuracy %.3f" (Zoo.count zoo) (ZooSummary.ofZoo zoo).FinalAccuracyMean

// 2. A Geometric flow with a Relational Transformer on the zoo's runs minus held-out ones (CPU preset).
let preset = TrainingConfig.cpu Geometric VelocityKind.Rt
let config = if tiny then { preset with Iterations = 30; Schedule = WarmupCosine 5; Model = VelocityConfig.defaults VelocityKind.Rt 8 2 } else preset
let split = Holdout.lastRuns (if tiny then 1 else 10) zoo
let trained = Training.train config zoo.Layout split.Train None ignore ct
printfn "flow: %d steps, final loss %.4f" trained.Losses.Length (Array.last trained.Losses)

// 3. Sixteen networks (canonical weights), 100 Euler steps (10 when tiny).
let samples = Sampling.sample { SamplingConfig.defaults 16 with Steps = (if tiny then 10 else 100); Seed = 1L } ignore torch.CPU trained.Flow

// 4. Their test accuracies and the BMA of all 16 (function-space columns; `weightflow eval` adds the zoo's).
printfn "test accuracies: %A" (T.toArray (Mlp.accuracy zoo.Layout samples.Theta data.Test.X data.Test.Y))
let ctx = Evaluation.prepare Evaluation.defaultConfig zoo.Layout data None
let row = Evaluation.evaluate ctx "quickstart" samples.Theta
printfn "accuracy mean %.3f (min %.3f), BMA of %d: %.3f, diversity %.4f"
    row.AccuracyMean row.AccuracyMin row.Bma.K row.Bma.Accuracy (defaultArg row.Diversity nan)
