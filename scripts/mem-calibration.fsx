// What remains of the MNIST evaluation's peak after items 1-3 (docs/results/memory-mnist.md): `Metrics.compute`'s
// temperature fit (`Calibration.fit`, golden section over 60 iterations on float64 logits [32, 9000, 10]) measured at
// 60 iterations and at 1, and the calibration forward (`Predictive.logits`) apart; each after a full GC + malloc_trim
// with VmHWM reset; before and after the fix in docs/results/memory-mnist.md. Stages from the cache folder OUT.
//
//   OUT=results/mem2/cache WEIGHTFLOW_THREADS=1 /usr/bin/time -v dotnet fsi scripts/mem-calibration.fsx
#load "_mem_stages.fsx"
open _load
open _mem_stages
open System
open System.IO
open TorchSharp
open WeightFlow

let status (k: string) = File.ReadAllLines "/proc/self/status" |> Array.find (fun (s: string) -> s.StartsWith k) |> fun s -> int64 (s.Split(' ', StringSplitOptions.RemoveEmptyEntries).[1])
let reset () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); Heap.release (); File.WriteAllText("/proc/self/clear_refs", "5")
let measure (label: string) (f: unit -> 'a) : 'a =
    reset ()
    let before = status "VmRSS:"
    let r = f ()
    let peak = status "VmHWM:"
    log $"| {label} | {before:N0} | {peak:N0} (+{peak - before:N0}) |"
    r
let rows = Calibration.rowsOf config.Calibration data
let logits = measure "Predictive.logits (32 samples x 9,000 calibration rows)" (fun () -> Predictive.logits aligned.Layout rows.X theta)
for iterations in [ 60; 1 ] do
    let t = measure $"Calibration.fit, {iterations} iteration(s)" (fun () -> Calibration.fit { config.Calibration with Iterations = iterations } logits rows.Y)
    log $"  median temperature {t.Temperature.median().ToDouble()}"
