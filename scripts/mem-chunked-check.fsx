// Items 2-3 of docs/results/memory-mnist.md at any thread count: the chunked `Novelty.realign` and the column-blocked
// `Prior.fitFull` against their one-batch versions (written out here as they were before the change) on the MNIST
// full preset's 5,670 training checkpoints, compared bit for bit (T.equal). The stages come from the cache folder OUT.
//
//   OUT=results/mem2/cache WEIGHTFLOW_THREADS=2 /usr/bin/time -v dotnet fsi scripts/mem-chunked-check.fsx
#load "_mem_stages.fsx"
open _load
open _mem_stages
open TorchSharp
open WeightFlow

let alignment = config.Alignment
let oneBatchRealign (t: torch.Tensor) =
    use _ = torch.no_grad ()
    Symmetry.permute aligned.Layout (Rebasin.weightMatching alignment aligned.Layout reference t) t
let oneBatchFit (settings: CovarianceFit) (x: torch.Tensor) =
    use _ = torch.no_grad ()
    let x64 = x.to_type(torch.float64)
    let n = x64.shape[0]
    let centred = x64 - x64.mean([| 0L |], true)
    let a = centred.to_type(torch.float32).contiguous()
    let factor = (if n <= int64 settings.Rank then a else Prior.topComponents settings.Rank a).div(scalar (sqrt (float n)))
    let explained = factor.to_type(torch.float64).pow(scalar 2.0).sum(0L)
    [ "mean", x64.mean([| 0L |]).to_type(torch.float32); "std", x64.std(0L, false).clamp_min(scalar 1e-6).to_type(torch.float32)
      "factor", factor; "residual", (centred.pow(scalar 2.0).mean([| 0L |]) - explained).clamp_min(scalar 1e-12).sqrt().to_type(torch.float32) ]
// each comparison in its own dispose scope, the heap returned after it: the one-batch versions hold GBs of temporaries
// (the first run of this script, without the scopes, peaked at 8.77 GB at 2 threads)
let apart (f: unit -> unit) =
    Scope.value f
    System.GC.Collect(); System.GC.WaitForPendingFinalizers(); System.GC.Collect(); Heap.release ()
let report (what: string) (a: torch.Tensor) (b: torch.Tensor) =
    let verdict = if a.dtype = b.dtype && T.equal a b then "IDENTICAL" else $"DIFFERENT (max |diff| {T.maxAbsDiff (a.to_type(torch.float64)) (b.to_type(torch.float64))})"
    log $"{what} {shape a}: {verdict}"
log $"threads {torch.get_num_threads ()}"
// a batch the matching moves: the training checkpoints permuted at random (seeded), besides the aligned ones themselves
let permuted () = (use g = Scope.Rng.create 5L in Symmetry.permute aligned.Layout (Symmetry.randomPermutation g torch.CPU aligned.Layout (int h0.Train.shape[0])) h0.Train)
for name, t in [ "aligned training", (fun () -> h0.Train); "randomly permuted training", permuted ] do
    apart (fun () -> let t = t () in report $"Novelty.realign vs one batch, {name}" (Novelty.realign alignment aligned.Layout reference t) (oneBatchRealign t))
let settings = match n.Training.Prior.Centre with FitFullToTargets f -> f | _ -> failwith "flow N has a full-covariance prior"
apart (fun () ->
    match Prior.fitFull settings aligned.Layout h0.Train with
    | Fitted ({ Covariance = Some c } as g) ->
        let mine = [ "mean", g.Mean; "std", g.Std; "factor", c.Factor; "residual", c.Residual ]
        for (k, a), (_, b) in List.zip mine (oneBatchFit settings h0.Train) do report $"Prior.fitFull vs one batch, {k}" a b
    | _ -> failwith "fitFull gives a covariance")
