#!/usr/bin/env -S dotnet fsi
// Your own data set through the main job: a CSV file (numeric feature columns, an integer class label 0..C-1 in the
// last column, an optional header row) -> a zoo of features-16-16-classes MLPs, its alignment and barriers, a
// Geometric flow, 64 samples and their evaluation beside the zoo mean, a fitted Gaussian and held-out checkpoints,
// report.md. The same core function as `weightflow run --task csv:PATH` (MainJob.run), with one flow instead of four.
//   dotnet fsi scripts/custom-dataset.fsx my.csv            (the CPU preset: minutes on 2 cores)
//   dotnet fsi scripts/custom-dataset.fsx my.csv --tiny     (a smoke run)
//   dotnet fsi scripts/custom-dataset.fsx --tiny            (no file: a seeded synthetic 3-class CSV is written first)
#load "_load.fsx"

open System.IO
open System.Threading
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
let tiny = args |> Array.contains "--tiny"
let outDir = Path.Combine("results", "custom-dataset")

// The data: the file given, or a demo: three Gaussian blobs in 4 dimensions, 200 rows each (torch generator, seed 0).
let csv =
    match args |> Array.tryFind (fun a -> not (a.StartsWith "--")) with
    | Some path -> path
    | None ->
        let path = Path.Combine(outDir, "demo.csv")
        use g = Scope.Rng.create 0L
        let centres = torch.tensor([| 0f; 0f; 0f; 0f; 2f; 2f; 0f; 0f; 0f; 2f; 2f; 0f |]).view(3L, 4L)
        let labels = torch.arange(3L).repeat_interleave(200L)
        let x = (centres.index_select(0L, labels) + torch.randn([| 600L; 4L |], generator = g)).data<float32>().ToArray()
        let lines = [ for i in 0 .. 599 -> (x[4 * i .. 4 * i + 3] |> Array.map (fun v -> v.ToString "R") |> String.concat ",") + $",{i / 200}" ]
        Directory.CreateDirectory outDir |> ignore
        File.WriteAllLines(path, "f1,f2,f3,f4,label" :: lines)
        path

// The main job's configuration for the CSV (layout and checkpoint interval derived from the data), keeping one flow.
let job = MainJobConfig.forTask (Task.Csv csv) Quick 0L outDir
let geometric = job.Flows |> List.filter (fun f -> f.Name = "Geometric")
let config =
    if not tiny then { job with Flows = geometric }
    else
        { job with
            Zoo = { job.Zoo with Runs = 8; Epochs = max 5 (job.Zoo.Epochs / 10); DropEpochs = 1 }
            HeldOutRuns = 2; Pairs = 20
            Flows = geometric |> List.map (fun f -> { f with Training = { f.Training with Iterations = 60; Schedule = WarmupCosine 6 } })
            Sampling = { job.Sampling with Count = 16; Steps = 20 } }

let result = MainJob.run config (fun p -> if p.Done = p.Total then eprintfn "%s: done" p.Label) CancellationToken.None
printfn "zoo: %s (%d checkpoints, final test accuracy %.3f)" result.ZooPath (Zoo.count result.Zoo) (ZooSummary.ofZoo result.Zoo).FinalAccuracyMean
for table in result.Tables do
    printfn "\n%s space: %s" table.Space (String.concat " | " Report.qualityHeader)
    for row in table.Flows @ table.Baselines do printfn "%s" (String.concat " | " (Report.qualityCells row))
printfn "\nreport: %s" result.ReportPath
