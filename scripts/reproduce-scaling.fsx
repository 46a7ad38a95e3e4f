#!/usr/bin/env -S dotnet fsi
// Thesis Fig. 7.7: the Geometric RT flow on MNIST at flow widths 8/16/32; the same core function as
// `weightflow reproduce scaling` (ReproduceScaling.run). Needs prepared MNIST data.
//   dotnet fsi scripts/reproduce-scaling.fsx [--tiny] [--seed N]
#load "_reproduce.fsx"

open System.Threading
open WeightFlow
open _reproduce

let result = ReproduceScaling.run (ReproduceScaling.config preset seed (outDir "scaling")) progress CancellationToken.None
for p in result.Points do
    printfn "width %3d (%d parameters): accuracy %.3f ± %.3f, CE cal %.4f, training %.0f s" p.Width p.Parameters p.AccuracyMean p.AccuracyStd p.CalibratedCrossEntropy p.TrainingSeconds
printfn "files: %s" (String.concat ", " result.Files)
