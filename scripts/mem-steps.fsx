// Items 2-3 of docs/results/memory-mnist.md: the peak of each step that re-aligns the zoo or fits the full-covariance
// prior on the MNIST full preset's 5,670 training checkpoints, and the bit-identity of their results before vs after
// a change. Each step runs after a full GC + malloc_trim with VmHWM reset (/proc/self/clear_refs): RSS before, peak
// (VmHWM), RSS after. The stages (zoo, alignment, flow N, its samples) are read back from the cache folder OUT.
// Without the file REF, the run writes every result there; with it, it compares each against it (T.equal: same dtype, shape and values; the
// evaluated row's fields as exact floats) and fails on any difference.
//
//   OUT=results/mem2/cache REF=results/mem2/ref.safetensors WEIGHTFLOW_THREADS=1 /usr/bin/time -v dotnet fsi scripts/mem-steps.fsx
#load "_mem_stages.fsx"
open _load
open _mem_stages
open System
open System.IO
open System.Threading
open Microsoft.FSharp.Reflection
open TorchSharp
open WeightFlow

let status (k: string) = File.ReadAllLines "/proc/self/status" |> Array.find (fun (s: string) -> s.StartsWith k) |> fun s -> int64 (s.Split(' ', StringSplitOptions.RemoveEmptyEntries).[1])
let reset () = GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect(); Heap.release (); File.WriteAllText("/proc/self/clear_refs", "5")
let steps = ResizeArray<string>()
let measure (label: string) (f: unit -> 'a) : 'a =
    reset ()
    let before = status "VmRSS:"
    let c0 = cpu ()
    let w = Diagnostics.Stopwatch.StartNew()
    let r = f ()
    let peak, after = status "VmHWM:", status "VmRSS:"
    let line = $"| {label} | {before:N0} | {peak:N0} (+{peak - before:N0}) | {after:N0} | {w.Elapsed.TotalSeconds:F2} / {cpu () - c0:F2} |"
    steps.Add line
    log line
    r

// every field of a row but its wall time, floats round-trip ("R")
let rec text (v: obj) : string =
    match v with
    | null -> "None"
    | :? float as x -> x.ToString("R", Globalization.CultureInfo.InvariantCulture)
    | :? string as s -> s
    | _ ->
        let t = v.GetType()
        if FSharpType.IsRecord t then
            FSharpType.GetRecordFields t |> Array.filter (fun p -> p.Name <> "Seconds")
            |> Array.map (fun p -> $"{p.Name}={text (p.GetValue v)}") |> String.concat "; " |> sprintf "{%s}"
        elif FSharpType.IsUnion t then
            let case, fields = FSharpValue.GetUnionFields(v, t)
            case.Name + (fields |> Array.map text |> String.concat ", " |> sprintf "(%s)")
        elif t.IsGenericType && t.GetGenericTypeDefinition() = typedefof<list<_>> then
            (v :?> Collections.IEnumerable) |> Seq.cast<obj> |> Seq.map text |> String.concat ", " |> sprintf "[%s]"
        else string v

let alignment = config.Alignment
let novelty = measure "Novelty.reference (training [5670, 7960], judge)" (fun () -> Novelty.reference alignment aligned.Layout reference training0 judge)
let judgeAligned = measure "Novelty.realign (judge [378, 7960])" (fun () -> Novelty.realign alignment aligned.Layout reference judge)
let fitSettings = match n.Training.Prior.Centre with FitFullToTargets f -> f | _ -> failwith "flow N has a full-covariance prior"
let targets = h0.Train
let fitted =
    match measure "Prior.fitFull (flow N's targets)" (fun () -> Prior.fitFull fitSettings aligned.Layout targets) with
    | Fitted ({ Covariance = Some cov } as g) -> g, cov
    | _ -> failwith "fitFull gives a covariance"
let iterations = 20
let trained = measure $"Training.train (flow N's settings, {iterations} iterations)" (fun () ->
    Training.train { n.Training with Iterations = iterations } aligned.Layout targets None ignore CancellationToken.None)
log $"Novelty.reference's re-aligned training checkpoints equal its input (every permutation the identity): {T.equal novelty.Training training0}"
// what remains of the evaluation's peak: the function-space metrics of the 32 samples (the first step of `evaluate`)
let metrics = measure "Metrics.compute (32 samples; evaluate's first step)" (fun () ->
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let m = Metrics.compute config.Calibration aligned.Layout (Calibration.rowsOf config.Calibration data) data.Test theta
        m.Accuracy.to_type(torch.float64).mean().ToDouble()))
log $"Metrics.compute: accuracy mean {metrics}"
let ctx = measure "Evaluation.prepare" (fun () -> Evaluation.prepare config aligned.Layout data (Some (reference, training0, judge)))
let row = measure "Evaluation.evaluate" (fun () -> Evaluation.evaluate ctx n.Name theta)
let rowText = text row
log $"row: {rowText}"
let g, cov = fitted
let losses = torch.tensor(trained.Losses)
let results =
    [ "novelty.training", novelty.Training; "novelty.heldout_distances", novelty.HeldOutDistances
      "novelty.heldout_median", torch.tensor([| novelty.HeldOutMedian |]); "judge.aligned", judgeAligned
      "prior.mean", g.Mean; "prior.std", g.Std; "prior.factor", cov.Factor; "prior.residual", cov.Residual
      "train.losses", losses ]
let ref = env "REF" "results/mem2/ref.safetensors"
if not (File.Exists ref) then
    Storage.write ref (Map [ ("row", rowText) ]) [ for k, t in results -> k, t.contiguous() ]
    log $"wrote {ref}"
else
    let s = Storage.read ref
    let mutable ok = true
    for k, t in results do
        let r = Storage.tensor ref s k
        let same = r.dtype = t.dtype && T.equal r t
        if not same then ok <- false
        let diff = if r.shape = t.shape then (r.to_type(torch.float64) - t.to_type(torch.float64)).abs().max().ToDouble() else nan
        let verdict = if same then "IDENTICAL" else "DIFFERENT"
        log $"compare {k} {shape t}: {verdict} (max |diff| {diff})"
    let sameRow = s.Metadata["row"] = rowText
    if not sameRow then ok <- false
    let verdict = if sameRow then "IDENTICAL" else "DIFFERENT: " + s.Metadata["row"]
    log $"compare row: {verdict}"
    log (if ok then "ALL IDENTICAL" else "NOT IDENTICAL")
printfn "| step | RSS before (kB) | peak VmHWM (kB) | RSS after (kB) | wall s / CPU s |"
printfn "| --- | --- | --- | --- | --- |"
for l in steps do printfn "%s" l
