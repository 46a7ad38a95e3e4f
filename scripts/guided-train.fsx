// Trains the UCI reproduction's three nine-table Euclidean RT rows (Euclidean, aligned, aligned + OT) by the full
// preset's current recipe (isotropic prior, `Reproduce.uciEuclideanTraining`: 3,000 iterations at 1e-3) at zoo seed
// SEED into a folder, and nothing else (the pre-stated test docs/uci/guided.md): the zoo, its alignment and canonical
// copy as `reproduce uci --preset full --seed SEED` makes them, then each flow exactly as `reproduce uci` trains it
// (`MainJob.trainFlow`, recorded in the folder's stages.json under the reproduction's key), one at a time on one
// intra-op thread. No sampling, no evaluation (scripts/guided-select.fsx scores them on the validation split, and
// scripts/guided-test.fsx on seed 0's test split).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/guided-train.fsx DIR SEED > LOG
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads 1
let dir, seed =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; s |] -> d, int64 s
    | _ -> failwith "usage: guided-train.fsx DIR SEED"
let job = (Reproduce.uciConfig Full seed dir).Job
let c = { job with Flows = job.Flows |> List.filter Reproduce.isEuclideanRtRow }
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let report (p: MainJobProgress) = if p.Done = p.Total then printfn "  %s done (process cpu %.0f s, wall %.0f s)" p.Label (cpu ()) sw.Elapsed.TotalSeconds
let zoo, _, _ = MainJob.trainZoo c report CancellationToken.None
let aligned, _, _ = MainJob.alignZoo c zoo report
MainJob.canonicalize c aligned report |> ignore
printfn "seed %d: zoo, alignment, canonical copy: process cpu %.0f s, wall %.0f s" seed (cpu ()) sw.Elapsed.TotalSeconds
for f in c.Flows do
    let last = ref -1
    let _, seconds, loss, reused =
        MainJob.trainFlow c zoo aligned f (fun p -> if p.Done % 500 = 0 && p.Done <> last.Value then (last.Value <- p.Done; printfn "  %s %d/%d %s" f.Name p.Done p.Total p.Message)) CancellationToken.None
    printfn "flow\t%s\tseed %d\t%d it\tlr %g\tfinal loss %.4f\t%s\t(process cpu %.0f s, wall %.0f s)" f.Name f.Training.Seed f.Training.Iterations f.Training.LearningRate loss
        (if reused then "reused" else sprintf "trained in %.0f s" (Option.defaultValue nan seconds)) (cpu ()) sw.Elapsed.TotalSeconds
printfn "total: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
