#!/usr/bin/env -S dotnet fsi
// Diagnoses the flows of a finished main-job folder (issue 12, CSV tasks): for each flow file, the training loss
// per t bucket (five buckets, 512 draws each, the training coupling in minibatches of 32) beside the zoo-mean
// predictor's, on the flow's own training targets (the aligned zoo without its held-out runs); plus the aligned
// zoo's scale: RMS of each layer's weights and the mean per-coordinate std over the training checkpoints.
//   dotnet fsi scripts/csv-diagnose.fsx RUN_DIR [HELD_OUT_RUNS=10]
#load "_load.fsx"

open System.IO
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
let dir = args[0]
let heldOut = if args.Length > 1 then int args[1] else 10
let aligned = Directory.GetFiles(dir, "zoo-*-aligned.safetensors") |> Array.exactlyOne |> Zoo.load
let split = Holdout.lastRuns heldOut aligned
let layout = aligned.Layout
printfn "layout %O, %d parameters, %d training checkpoints" layout (Layout.paramCount layout) split.Train.shape[0]
Scope.noGrad (fun () -> Scope.value (fun () ->
    let x = split.Train
    for l in 0 .. Layout.depth layout - 1 do
        let fin, fout = Layout.dims layout l
        let w = x.narrow(1L, int64 (Layout.weightOffset layout l), int64 (fin * fout))
        let b = x.narrow(1L, int64 (Layout.biasOffset layout l), int64 fout)
        printfn "layer %d: weight RMS %.4f (per-coordinate std %.4f, |mean| %.4f), bias RMS %.4f (std %.4f)" l
            (w.square().mean().sqrt().ToDouble()) (w.std(0L).mean().ToDouble()) (w.mean([| 0L |]).abs().mean().ToDouble())
            (b.square().mean().sqrt().ToDouble()) (b.std(0L).mean().ToDouble())))
for file in Directory.GetFiles(dir, "flow-*.safetensors") |> Array.sort do
    let flow = Flow.load torch.CPU file
    let space = flow.Space
    let coupling = match space.Kind with Euclidean -> Independent | Normalized | Geometric -> SymmetryAware
    use inSpace = Scope.noGrad (fun () -> FlowSpace.embed space split.Train)
    let byTime = LossByTime.evaluate space flow.Prior coupling 32 5 512 1L inSpace [ Flow.predict flow; LossByTime.zooMean space inSpace ]
    let text (xs: float[]) = xs |> Array.map (sprintf "%.4f") |> String.concat " "
    printfn "%s: flow %s | zoo mean %s" (Path.GetFileName file) (text byTime[0]) (text byTime[1])
