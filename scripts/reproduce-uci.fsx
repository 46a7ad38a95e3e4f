#!/usr/bin/env -S dotnet fsi
// Thesis Table 7.1, Figs. 7.2-7.3 (UCI breast cancer): the nine flow rows and the baselines, the steps sweep; the same
// core function as `weightflow reproduce uci` (Reproduce.uci). Re-running skips finished stages.
//   dotnet fsi scripts/reproduce-uci.fsx [--tiny] [--seed N]
#load "_reproduce.fsx"

open System.Threading
open WeightFlow
open _reproduce

let result = Reproduce.uci (Reproduce.uciConfig preset seed (outDir "uci")) progress CancellationToken.None
for t in result.Job.Tables do printTable "Table 7.1" t
for p in result.Sweep do
    printfn "%-34s guided=%-5b steps %4d: accuracy %.3f, CE cal %.4f" p.Flow p.Guided p.Steps p.AccuracyMean p.CalibratedCrossEntropy
printfn "files: %s" (String.concat ", " result.Files)
