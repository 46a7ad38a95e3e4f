// Trains the UCI reproduction's unaligned Euclidean RT row (isotropic prior, the full preset's recipe,
// `Reproduce.uciEuclideanTraining`'s learning rate and warm-up/cosine schedule) for ITERATIONS iterations at zoo seed
// SEED into a folder, and nothing else (the pre-stated test docs/uci/long1.md): the zoo and its alignment as
// `reproduce uci --preset full --seed SEED` makes them (reused when the folder holds them), then the flow exactly as
// `reproduce uci` trains it (`MainJob.trainFlow`) with only its iteration count changed, on one intra-op thread.
// No sampling, no evaluation (scripts/long1-select.fsx scores it on the validation split, scripts/long1-test.fsx on
// seed 0's test split).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/long1-train.fsx DIR SEED ITERATIONS > LOG
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads 1
let dir, seed, iterations =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; s; n |] -> d, int64 s, int n
    | _ -> failwith "usage: long1-train.fsx DIR SEED ITERATIONS"
let job = (Reproduce.uciConfig Full seed dir).Job
let row =
    job.Flows |> List.filter (fun f -> Reproduce.isEuclideanRtRow f && f.Source = UnalignedZoo) |> List.exactlyOne
    |> fun f -> { f with Training = { f.Training with Iterations = iterations } }
let c = { job with Flows = [ row ] }
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let report (p: MainJobProgress) = if p.Done = p.Total then printfn "  %s done (process cpu %.0f s, wall %.0f s)" p.Label (cpu ()) sw.Elapsed.TotalSeconds
let zoo, _, _ = MainJob.trainZoo c report CancellationToken.None
let aligned, _, _ = MainJob.alignZoo c zoo report
printfn "seed %d: zoo, alignment: process cpu %.0f s, wall %.0f s" seed (cpu ()) sw.Elapsed.TotalSeconds
let last = ref -1
let _, seconds, loss, reused =
    MainJob.trainFlow c zoo aligned row (fun p -> if p.Done % 500 = 0 && p.Done <> last.Value then (last.Value <- p.Done; printfn "  %s %d/%d %s (process cpu %.0f s)" row.Name p.Done p.Total p.Message (cpu ()))) CancellationToken.None
printfn "flow\t%s\tseed %d\t%d it\tlr %g\tschedule %A\tfinal loss %.4f\t%s\t(process cpu %.0f s, wall %.0f s)" row.Name row.Training.Seed row.Training.Iterations row.Training.LearningRate row.Training.Schedule loss
    (if reused then "reused" else sprintf "trained in %.0f s" (Option.defaultValue nan seconds)) (cpu ()) sw.Elapsed.TotalSeconds
printfn "total: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
