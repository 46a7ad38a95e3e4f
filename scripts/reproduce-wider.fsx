#!/usr/bin/env -S dotnet fsi
// Thesis Table 7.4: flows trained on 784-10-10 MNIST networks sampled for a 784-32-10 network, with and without
// guidance; the same core function as `weightflow reproduce wider` (ReproduceTransfer.wider), on the MNIST
// reproduction's flows (trained first if missing). Needs prepared MNIST data.
//   dotnet fsi scripts/reproduce-wider.fsx [--tiny] [--seed N]
#load "_reproduce.fsx"

open System.Threading
open WeightFlow
open _reproduce

let config = ReproduceTransfer.config preset seed (outDir "mnist")
let result = ReproduceTransfer.wider config progress CancellationToken.None
for r in result.Rows do
    printfn "%-32s %-20s %5d  %.3f ± %.3f (CE %.3f)" r.Flow r.Setting r.Count r.AccuracyMean r.AccuracyStd r.CrossEntropy
printfn "files: %s" (String.concat ", " result.Files)
