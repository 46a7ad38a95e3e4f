#!/usr/bin/env -S dotnet fsi
// Thesis §7.1, Fig. 7.1: a flow from N(0, I) to N(1, I) in the 30-16-16-2 weight space, sampled deterministically and
// stochastically; the same core function as `weightflow reproduce gaussians` (Reproduce.gaussians).
//   dotnet fsi scripts/reproduce-gaussians.fsx [--tiny] [--seed N]
#load "_reproduce.fsx"

open System.Threading
open WeightFlow
open _reproduce

let c0 = Reproduce.gaussiansConfig preset (outDir "gaussians")
let config = { c0 with Training = { c0.Training with Seed = seed } }
let result = Reproduce.gaussians config (fun label d t -> if d = t then eprintfn "%s: done" label) CancellationToken.None
printfn "%-28s %6s %10s %14s %10s" "sampling" "n" "mean" "max |mean-1|" "std"
for r in result.Rows do
    printfn "%-28s %6d %10.3f %14.3f %10.3f" r.Mode r.Count r.Mean r.MeanMaxDeviation r.Std
printfn "bar (every mean within 0.05 of 1, stochastic std within 20%%): %s" (if result.Passed then "met" else "NOT met")
printfn "files: %s" (String.concat ", " result.Files)
