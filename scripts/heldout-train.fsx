// Issue 13, docs/mnist/heldout.md: rebuilds what `reproduce mnist --preset full` caches in OUT for its first flow
// (the zoo, its alignment, and the Euclidean RT from the full-covariance prior, 800 steps) through the main job's own
// stages, and nothing else; scripts/heldout-run.fsx then reads them back.
//
//   OUT=results/heldout WEIGHTFLOW_THREADS=1 dotnet fsi scripts/heldout-train.fsx
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/heldout"
Directory.CreateDirectory outDir |> ignore
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let load () = (File.ReadAllText "/proc/loadavg").[0..13]
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, load %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss") sw.Elapsed.TotalSeconds (cpu ()) (load ()) s; Console.Out.Flush()

let c = (ReproduceMnist.config Full 0L outDir).Job
let flowRun = c.Flows.Head
if flowRun.Name <> "Euclidean (aligned, full-covariance prior)" then failwith $"the full preset's first flow is '{flowRun.Name}'"
let progress (p: MainJobProgress) = if p.Done % 100 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let zoo, zs, _ = MainJob.trainZoo c progress CancellationToken.None
log $"zoo: {Zoo.count zoo} checkpoints ({zs})"
let aligned, als, _ = MainJob.alignZoo c zoo progress
log $"aligned ({als})"
let flow, fs, loss, reused = MainJob.trainFlow c zoo aligned flowRun progress CancellationToken.None
log $"flow trained (reused {reused}): final loss (last 50) {loss:F4}, wall {fs}"
