// Fig. 7.7's per-iteration cost (issue 13, `reproduce scaling`): trains each width of ReproduceScaling's full preset
// for a few steps on the aligned MNIST zoo and prints the CPU seconds per step (after the first WARM steps, which
// include the prior's fit) and the process' peak RSS, so the preset's iterations can be sized to a CPU budget.
//   ZOO=results/reproduce-scaling/zoo-mnist-aligned.safetensors STEPS=12 WARM=2 WEIGHTFLOW_THREADS=1 dotnet fsi scripts/scaling-probe.fsx
#load "_load.fsx"
open _load

open System
open System.Diagnostics
open System.Threading
open WeightFlow

let zooPath = env "ZOO" "results/reproduce-scaling/zoo-mnist-aligned.safetensors"
let steps = int (env "STEPS" "12")
let warm = int (env "WARM" "2")
let zoo = Zoo.load zooPath
let c = ReproduceScaling.config Full 0L "unused"
let split = Holdout.lastRuns c.Job.HeldOutRuns zoo
let cpuNow () = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
for f in c.Job.Flows do
    let t = { f.Training with Iterations = steps; CheckpointEvery = steps + 1; Schedule = WarmupCosine 1 }
    let marks = Collections.Generic.List<float>()
    let cpu0 = cpuNow ()
    let r = Training.train t zoo.Layout split.Train None (fun p -> marks.Add(cpuNow ())) CancellationToken.None
    let perStep = (marks[marks.Count - 1] - marks[warm - 1]) / float (marks.Count - warm)
    printfn "%s: %d parameters, %d steps, %.1f CPU s in all (prior fit and first step %.1f), %.3f CPU s per step after step %d, last loss %.4f, peak RSS %.2f GB"
        f.Name (VelocityModel.parameterCount r.Flow.Model) steps (marks[marks.Count - 1] - cpu0) (marks[0] - cpu0) perStep warm
        r.Losses[r.Losses.Length - 1] (float (Process.GetCurrentProcess().PeakWorkingSet64) / 1e9)
