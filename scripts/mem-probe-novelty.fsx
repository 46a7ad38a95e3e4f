// Issue 13 memory probe, part 2 (docs/results/memory-mnist.md): the sub-steps of `Novelty.reference` (src/Eval/Novelty.fs)
// on the full preset's 5,670 training checkpoints, each with its own peak (VmHWM reset through /proc/self/clear_refs)
// after a settled heap (full GC + malloc_trim). Needs the cache of scripts/mem-probe.fsx in OUT.
//
//   OUT=results/mem/full WEIGHTFLOW_THREADS=2 dotnet fsi scripts/mem-probe-novelty.fsx
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" "results/mem/full"
let status (k: string) = File.ReadAllLines "/proc/self/status" |> Array.find (fun (s: string) -> s.StartsWith k) |> fun s -> s.Split(' ', StringSplitOptions.RemoveEmptyEntries).[1]
let settle () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); Heap.release (); File.WriteAllText("/proc/self/clear_refs", "5")
let measure (label: string) (f: unit -> 'a) : 'a =
    settle ()
    let before = int64 (status "VmRSS:")
    let sw = Diagnostics.Stopwatch.StartNew()
    let r = f ()
    let peak, after = int64 (status "VmHWM:"), int64 (status "VmRSS:")
    settle ()
    let settled = int64 (status "VmRSS:")
    printfn "| %s | %d | %d (+%d) | %d | %d | %.2f |" label before peak (peak - before) after settled sw.Elapsed.TotalSeconds
    Console.Out.Flush()
    r
let c = (ReproduceMnist.config Full 0L outDir).Job
let zoo, _, zr = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, ar = MainJob.alignZoo c zoo ignore
if not (zr && ar) then failwith "no cache: run scripts/mem-probe.fsx first"
let h0 = Holdout.lastRuns c.HeldOutRuns aligned
let judge, _ = Holdout.halves aligned h0
let reference = aligned.Theta.narrow(0L, 0L, 1L)
let training = h0.Train
let cfg = c.Evaluation.Alignment
printfn "training %A, judge %A" training.shape judge.shape
printfn "| sub-step | RSS before (kB) | peak (kB) | RSS after | RSS after GC + trim | s |"
printfn "| --- | --- | --- | --- | --- | --- |"
let perms = measure "Rebasin.weightMatching (training)" (fun () -> use _ = torch.no_grad () in Rebasin.weightMatching cfg aligned.Layout reference training)
let realigned = measure "Symmetry.permute (training)" (fun () -> use _ = torch.no_grad () in Symmetry.permute aligned.Layout perms training)
let judgeAligned = measure "Novelty.realign (judge)" (fun () -> Novelty.realign cfg aligned.Layout reference judge)
let d = measure "Novelty.nearestDistance (judge vs training)" (fun () -> Novelty.nearestDistance realigned judgeAligned)
let _ = measure "Novelty.reference (whole)" (fun () -> Novelty.reference cfg aligned.Layout reference training judge)
