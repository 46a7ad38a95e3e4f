// Trains the UCI reproduction's Euclidean RT rows from the fitted prior (`reproduce uci --euclidean-prior fitted`,
// the pre-stated test docs/uci/euclid-rows.md) into a finished `reproduce uci --preset full` folder, and nothing else:
// each flow exactly as `reproduce uci` trains it (`MainJob.trainFlow`, recorded in the folder's stages.json under the
// reproduction's key, so the reproduction reads it back), one at a time on one intra-op thread. No sampling, no
// evaluation (the rows' τ is chosen next by scripts/tau-select.fsx repro-fitted DIR, on validation rows only).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/euclid-train.fsx DIR > LOG
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads 1
let dir = match fsi.CommandLineArgs |> Array.skip 1 with [| d |] -> d | _ -> failwith "usage: euclid-train.fsx DIR"
let job = (Reproduce.uciConfig Full 0L dir).Job
let rows =
    Reproduce.uciFlows FittedPrior Full 0L
    |> List.filter (fun f -> f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt)
let c = { job with Flows = rows }
// the zoos the reproduction's Euclidean rows train on: the zoo as trained (unaligned rows) and the weight-matched one
let zoo = Zoo.load (MainJob.zooPath c)
let aligned = Zoo.load (MainJob.alignedPath c)
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
for f in rows do
    let last = ref -1
    let _, seconds, loss, reused =
        MainJob.trainFlow c zoo aligned f (fun p -> if p.Done % 250 = 0 && p.Done <> last.Value then (last.Value <- p.Done; printfn "  %s %d/%d %s" f.Name p.Done p.Total p.Message)) CancellationToken.None
    printfn "flow\t%s\tprior %s\t%d it\tfinal loss %.4f\t%s\t(process cpu %.0f s, wall %.0f s)" f.Name (Prior.centreText f.Training.Prior.Centre)
        f.Training.Iterations loss (if reused then "reused" else sprintf "trained in %.0f s" (Option.defaultValue nan seconds)) (cpu ()) sw.Elapsed.TotalSeconds
printfn "total: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
