// The shared stages of the memory probes (docs/results/memory-mnist.md): `reproduce mnist --preset full`'s first flow
// (zoo, alignment, the Euclidean RT from the full-covariance prior, 800 steps; cached in OUT), its 32 samples, the
// data, the holdout and the evaluation's inputs, with `log` (timestamp, CPU, VmRSS / VmHWM) and `settle` (SETTLE=1: a
// full GC and malloc_trim). Loaded by scripts/mem-probe.fsx and scripts/mem-eval.fsx.
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/mem/full"
Directory.CreateDirectory outDir |> ignore
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let rss () =
    let l = File.ReadAllLines "/proc/self/status"
    let v (k: string) = l |> Array.find (fun (s: string) -> s.StartsWith k) |> fun s -> s.Split(' ', StringSplitOptions.RemoveEmptyEntries).[1]
    let r, h = v "VmRSS:", v "VmHWM:"
    $"VmRSS {r} kB, VmHWM {h} kB"
let log (s: string) = printfn "[%s wall %.0f s, cpu %.0f s, %s] %s" (DateTime.UtcNow.ToString "HH:mm:ss.fff") sw.Elapsed.TotalSeconds (cpu ()) (rss ()) s; Console.Out.Flush()
// SETTLE=1: after each evaluation sub-step, a full .NET GC (finalizers free undisposed tensors) and malloc_trim, then
// RSS again: what stays is live, what goes was garbage or freed heap the allocator kept.
let settleOn = env "SETTLE" "0" = "1"
let settle (label: string) =
    if settleOn then
        GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); Heap.release ()
        log $"  settled after {label}"
let shape (t: torch.Tensor) = "[" + String.Join(", ", t.shape) + "] " + string t.dtype

let c = (ReproduceMnist.config Full 0L outDir).Job
let n = c.Flows.Head
log $"start: flow '{n.Name}'"
let progress (p: MainJobProgress) = if p.Done % 100 = 0 || p.Done = p.Total then log $"{p.Label} {p.Done}/{p.Total} {p.Message}"
let zoo, zs, _ = MainJob.trainZoo c progress CancellationToken.None
log $"STAGE zoo done: {Zoo.count zoo} checkpoints, theta {shape zoo.Theta} ({zs})"
let aligned, als, _ = MainJob.alignZoo c zoo progress
log $"STAGE alignment done: theta {shape aligned.Theta} ({als})"
let flow, fs, loss, _ = MainJob.trainFlow c zoo aligned n progress CancellationToken.None
log $"STAGE flow training done: final loss {loss:F4} ({fs})"
let theta, _, dropped, _ = MainJob.sampleFlow c n flow progress
log $"STAGE sampling done: {shape theta} ({dropped} dropped)"
let data = Sources.load c.Task c.Zoo.Seed
log $"STAGE data loaded: train X {shape data.Train.X}, valid X {shape data.Valid.X}, test X {shape data.Test.X}"
settle "data"
let h0 = Holdout.lastRuns c.HeldOutRuns aligned
let judge, pool = Holdout.halves aligned h0
log $"STAGE holdout: train {shape h0.Train}, judge {shape judge}, pool {shape pool}"
settle "holdout"
let config = c.Evaluation
let space = id
let reference = space (aligned.Theta.narrow(0L, 0L, 1L))
let training0 = space h0.Train
settle "before prepare"
