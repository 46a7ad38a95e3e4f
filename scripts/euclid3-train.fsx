// Trains the UCI reproduction's three nine-table Euclidean RT rows (Euclidean, aligned, aligned + OT) with another
// length and learning rate (the pre-stated test docs/uci/euclid3.md) into a folder, and nothing else: the zoo, its
// alignment and canonical copy as `reproduce uci --preset full` makes them, then each flow exactly as `reproduce uci`
// trains it (`MainJob.trainFlow`, recorded in the folder's stages.json under the reproduction's key, so `reproduce uci
// --euclidean-lr LR --euclidean-iterations N --out DIR` reads it back), one at a time on one intra-op thread. No
// sampling, no evaluation (the rows' τ is chosen next by scripts/tau-select.fsx repro-euclid-lr, validation rows only).
// Each candidate needs its own folder: a flow's file is named by its row.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/euclid3-train.fsx DIR ITERATIONS LR > LOG
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads 1
let dir, iterations, lr =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; n; lr |] -> d, int n, float lr
    | _ -> failwith "usage: euclid3-train.fsx DIR ITERATIONS LR"
let recipe = Reproduce.euclideanTraining iterations lr
let c = (Reproduce.euclidLrJob recipe dir)
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let report (p: MainJobProgress) = if p.Done = p.Total then printfn "  %s done (process cpu %.0f s, wall %.0f s)" p.Label (cpu ()) sw.Elapsed.TotalSeconds
let zoo, _, _ = MainJob.trainZoo c report CancellationToken.None
let aligned, _, _ = MainJob.alignZoo c zoo report
MainJob.canonicalize c aligned report |> ignore
printfn "zoo, alignment, canonical copy: process cpu %.0f s, wall %.0f s" (cpu ()) sw.Elapsed.TotalSeconds
for f in c.Flows do
    let last = ref -1
    let _, seconds, loss, reused =
        MainJob.trainFlow c zoo aligned f (fun p -> if p.Done % 250 = 0 && p.Done <> last.Value then (last.Value <- p.Done; printfn "  %s %d/%d %s" f.Name p.Done p.Total p.Message)) CancellationToken.None
    printfn "flow\t%s\t%d it\tlr %g\tfinal loss %.4f\t%s\t(process cpu %.0f s, wall %.0f s)" f.Name f.Training.Iterations f.Training.LearningRate loss
        (if reused then "reused" else sprintf "trained in %.0f s" (Option.defaultValue nan seconds)) (cpu ()) sw.Elapsed.TotalSeconds
printfn "total: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
