// Times `Training.train` inside F# Interactive exactly as `weightflow train` calls it (docs/results/fsi.md): the cpu
// preset's Euclidean RT on a zoo, `Holdout.lastRuns 10`, seed 0, the checkpoint file the CLI passes; wall and CPU s
// of the loop and of its steady state (from step 50), and the host's settings (threads, GC, JIT).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/fsi-step-time.fsx ZOO ITERATIONS OUT [threads=1|asis]
// threads=1 calls torch.set_num_threads 1 itself; asis keeps what _load.fsx gives.
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow

let zooPath, iterations, out, threads =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| z; n; o |] -> z, int n, o, "1"
    | [| z; n; o; t |] -> z, int n, o, t
    | _ -> failwith "usage: fsi-step-time.fsx ZOO ITERATIONS OUT [threads=1|asis]"
if threads = "1" then torch.set_num_threads 1
let config = { TrainingConfig.cpu Euclidean VelocityKind.Rt with Iterations = iterations; Seed = 0L }
let zoo = Zoo.load zooPath
let split = Holdout.lastRuns 10 zoo
let targets = split.Train.``to``(torch.CPU)
let checkpoint = out + ".checkpoint"
if IO.File.Exists checkpoint then IO.File.Delete checkpoint
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let steady = 50
let clock = Diagnostics.Stopwatch()
let mutable at50 = (nan, nan)
let cpu0 = cpu ()
clock.Start()
let result =
    Training.train config zoo.Layout targets (Some checkpoint)
        (fun p -> if p.Step = steady then at50 <- (clock.Elapsed.TotalSeconds, cpu ())) CancellationToken.None
let wall, cpuLoop = clock.Elapsed.TotalSeconds, cpu () - cpu0
// the loop's own seconds (the CLI's JSON `seconds`) beside this clock, which also covers the model's initialisation
IO.File.Delete checkpoint
let tail = result.Losses |> Array.skip (max 0 (result.Losses.Length - 50))
let core = typeof<TrainingConfig>.Assembly
let debuggable =
    core.GetCustomAttributes(typeof<Diagnostics.DebuggableAttribute>, false)
    |> Array.exists (fun a -> (a :?> Diagnostics.DebuggableAttribute).IsJITOptimizerDisabled)
let appSwitch (name: string) = match AppContext.GetData name with null -> "unset" | v -> string v
let envOr (name: string) = match Environment.GetEnvironmentVariable name with null -> "unset" | v -> v
let w50, c50 = at50
printfn "host\tfsi\tthreads %d interop %d\tGOMP_SPINCOUNT(config) %s\tserverGC %b concurrentGC(appctx) %s latency %A\tTieredCompilation %s TieredPGO %s\tDOTNET_gcServer %s DOTNET_TieredCompilation %s"
    (torch.get_num_threads ()) (torch.get_num_interop_threads ()) (Engine.openMpWaitPolicy ())
    Runtime.GCSettings.IsServerGC (appSwitch "System.GC.Concurrent") Runtime.GCSettings.LatencyMode
    (appSwitch "System.Runtime.TieredCompilation") (appSwitch "System.Runtime.TieredPGO")
    (envOr "DOTNET_gcServer") (envOr "DOTNET_TieredCompilation")
printfn "core\t%s\tJIT optimizer disabled %b" core.Location debuggable
printfn "result\titerations %d\tfinal_loss %.17g\tloop_seconds %.3f\tclock_wall %.3f\tloop_cpu %.3f\tsteady_wall_per_step %.5f\tsteady_cpu_per_step %.5f\twall_at50 %.3f\tcpu_at50 %.3f"
    iterations (Array.average tail) result.Seconds wall cpuLoop ((wall - w50) / float (iterations - steady)) ((cpuLoop - (c50 - cpu0)) / float (iterations - steady)) w50 (c50 - cpu0)
