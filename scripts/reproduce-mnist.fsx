#!/usr/bin/env -S dotnet fsi
// Thesis Table 7.2, Figs. 7.4-7.5 (MNIST 784-10-10): flows beside the baselines with diversity and novelty, quality
// against Euler steps, BMA over k; the same core function as `weightflow reproduce mnist` (ReproduceMnist.run).
// Needs `weightflow data prepare` (or WEIGHTFLOW_DATA pointing at prepared data).
//   dotnet fsi scripts/reproduce-mnist.fsx [--tiny] [--seed N]
#load "_reproduce.fsx"

open System.Threading
open WeightFlow
open _reproduce

let result = ReproduceMnist.run (ReproduceMnist.config preset seed (outDir "mnist")) progress CancellationToken.None
for t in result.Job.Tables do printTable "Table 7.2" t
for p in result.Sweep do
    printfn "%-34s guided=%-5b steps %4d: accuracy %.3f, CE cal %.4f" p.Flow p.Guided p.Steps p.AccuracyMean p.CalibratedCrossEntropy
printfn "files: %s" (String.concat ", " result.Files)
