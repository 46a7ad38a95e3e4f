#!/usr/bin/env -S dotnet fsi
// Guidance transfer (thesis §7.3.3, Table 7.3, Fig. 7.6): flows trained on MNIST weights, sampled with and without
// guidance by the Fashion-MNIST training loss (λ = 0.1), evaluated on Fashion-MNIST beside Adam-trained networks; and
// Adam on Fashion-MNIST started from flow samples against the zoo's Gaussian initialisation. The same core function as
// `weightflow reproduce fashion-transfer` (ReproduceTransfer.fashionTransfer); the MNIST flows are read from the MNIST
// reproduction's folder, or trained first. Needs `weightflow data prepare` (or WEIGHTFLOW_DATA pointing at prepared data).
//   dotnet fsi scripts/guidance-transfer.fsx            (the full preset: the thesis' 512 Euler steps, 16 samples)
//   dotnet fsi scripts/guidance-transfer.fsx --tiny     (the quick preset: a smoke run)
#load "_load.fsx"

open System.IO
open System.Threading
open WeightFlow

let tiny = fsi.CommandLineArgs |> Array.contains "--tiny"
let outDir = Path.Combine("results", (if tiny then "guidance-transfer-quick" else "guidance-transfer"))
let config = ReproduceTransfer.config (if tiny then Quick else Full) 0L outDir

let result = ReproduceTransfer.fashionTransfer config (fun p -> if p.Done = p.Total then eprintfn "%s: done" p.Label) CancellationToken.None
printfn "%-32s %-20s %5s  %s" "flow" "setting" "n" "Fashion-MNIST test accuracy (CE)"
for r in result.Rows do
    printfn "%-32s %-20s %5d  %.3f ± %.3f (%.3f)" r.Flow r.Setting r.Count r.AccuracyMean r.AccuracyStd r.CrossEntropy
for c in result.Curves do
    printfn "Adam from %s: accuracy %s over iterations %s" c.Init
        (c.AccuracyMean |> Array.map (sprintf "%.3f") |> String.concat " ") (c.Iterations |> Array.map string |> String.concat " ")
printfn "files: %s" (String.concat ", " result.Files)
