// Issue 13 memory probe (docs/results/memory-mnist.md): the stages of `reproduce mnist --preset full`'s first flow
// (scripts/heldout-train.fsx: zoo, alignment, the Euclidean RT from the full-covariance prior, 800 steps), then its
// 32 samples and the main job's evaluation (scripts/heldout-change.fsx), with `Evaluation.prepare` and
// `Evaluation.evaluate` unrolled so that each sub-step prints a timestamp (its body copied from src/Eval/Evaluation.fs).
// Run under scripts/mem-probe.sh, which samples VmRSS / VmHWM every 0.5 s.
//
//   OUT=results/mem/full WEIGHTFLOW_THREADS=2 scripts/mem-probe.sh results/mem/probe dotnet fsi scripts/mem-probe.fsx
//   OUT=results/mem/full SETTLE=1 WEIGHTFLOW_THREADS=2 scripts/mem-probe.sh results/mem/settle dotnet fsi scripts/mem-probe.fsx
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
// Evaluation.prepare, unrolled
let z =
    use _ = torch.no_grad ()
    let novelty = Novelty.reference config.Alignment aligned.Layout reference training0 judge
    log $"STAGE prepare: Novelty.reference done (training {shape novelty.Training})"
    settle "prepare"
    let judgeAligned = Novelty.realign config.Alignment aligned.Layout reference judge
    log $"STAGE prepare: realign judge done {shape judgeAligned}"
    settle "prepare"
    use g = Scope.Rng.create config.Seed
    let training = novelty.Training
    let m = training.shape[0]
    let pick = torch.randperm(m, generator = g).narrow(0L, 0L, min m (int64 config.FloorSize)).``to``(training.device)
    let subset = training.index_select(0L, pick)
    use pooled = torch.cat([| subset; judgeAligned |], 0L)
    let bandwidth = Fidelity.medianBandwidth pooled
    log $"STAGE prepare: pooled {shape pooled}, bandwidth done"
    settle "prepare"
    let metric = Fidelity.fit config.Fidelity aligned.Layout training (Evaluation.probeOf config data) config.Seed config.Projections pooled
    log $"STAGE prepare: Fidelity.fit ({config.Fidelity}) done"
    settle "prepare"
    let floor = Fidelity.distance metric subset judgeAligned
    log $"STAGE prepare: fidelity floor done {floor}"
    settle "prepare"
    let swf = Fidelity.slicedWasserstein config.Seed config.Projections subset judgeAligned
    log $"STAGE prepare: sliced-W floor done {swf}"
    settle "prepare"
    {| Novelty = novelty; Judge = judgeAligned; Metric = metric |}
let calibRows = Calibration.rowsOf config.Calibration data
log "STAGE prepare: calibration rows done"
// Evaluation.evaluate, unrolled
do
    use _ = torch.no_grad ()
    let b = int theta.shape[0]
    let m = Metrics.compute config.Calibration aligned.Layout calibRows data.Test theta
    log $"STAGE evaluate: Metrics.compute (calibration) done: calibrated logits {shape m.CalibratedLogits}"
    settle "evaluate"
    let k = min config.BmaK b
    let curve = Bma.curve config.Bma k m.CalibratedLogits data.Test.Y
    log $"STAGE evaluate: BMA done (k {k}): {(List.last curve).Accuracy}"
    settle "evaluate"
    let diversity = Diversity.ofLogits (m.CalibratedLogits.narrow(0L, 0L, int64 (min b config.DiversityMax)))
    log $"STAGE evaluate: diversity done {diversity}"
    settle "evaluate"
    let al = Novelty.realign config.Alignment aligned.Layout z.Novelty.Reference theta
    log "STAGE evaluate: realign samples done"
    let nd = Novelty.nearestDistance z.Novelty.Training al
    log $"STAGE evaluate: novelty nearestDistance done (median {nd.median().ToDouble()})"
    settle "evaluate"
    let f = Fidelity.distance z.Metric al z.Judge
    log $"STAGE evaluate: fidelity done {f}"
    settle "evaluate"
    let s = Fidelity.slicedWasserstein config.Seed config.Projections al z.Judge
    log $"STAGE evaluate: sliced W done {s}"
    settle "evaluate"
log "STAGE end"
