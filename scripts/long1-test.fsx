// The judgement of the pre-stated test docs/uci/long1.md, once, on the table's seed-0 test split: the unaligned
// Euclidean RT row trained 9,000 iterations (B, folder BDIR of scripts/long1-train.fsx on the table's seed-0 zoo)
// sampled at τ_B with the table's sampler (512 Euler steps, unguided, 256 networks, seed 0) and evaluated as
// `reproduce uci` evaluates it (`Evaluation.ofHoldout` on the aligned zoo, raw space, T per network on training +
// validation). First a check: the table's folder ADIR (the 3,000-iteration row, with its cached 512-step samples)
// re-evaluated must equal its table-7.1.csv exactly. The bar (the τ = 1 fitted Gaussian) is re-measured by the same run.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/long1-test.fsx ADIR BDIR TAU > LOG
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open System.IO
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let adir, bdir, tau =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| a; b; t |] -> a, b, Double.Parse(t, Globalization.CultureInfo.InvariantCulture)
    | _ -> failwith "usage: long1-test.fsx ADIR BDIR TAU"
/// A's comparator: the 3,000-iteration row at τ 0.9, 256 networks, 512 steps (docs/uci/tau3-results.md's judgement).
let ceA = 0.045054184876789805
let rowJob (dir: string) (iterations: int) =
    let job = (Reproduce.uciConfig Full 0L dir).Job
    let f = job.Flows |> List.filter (fun f -> Reproduce.isEuclideanRtRow f && f.Source = UnalignedZoo) |> List.exactlyOne
    let f = { f with Training = { f.Training with Iterations = iterations } }
    { job with Flows = [ f ] }, f
let cA, fA = rowJob adir 3000
let cB, fB = rowJob bdir 9000
let key = Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(bdir, "stages.json"))).RootElement.GetProperty($"flow:{fB.Name}").GetString()
if not (key.Contains ";train.iterations=9000;" && key.Contains ";train.seed=0;") then failwith $"{bdir} does not hold seed 0's 9,000-iteration flow"
let c = cA
let sampler = candidates |> List.find (fun k -> k.Name = "S1")
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data aligned (Holdout.lastRuns c.HeldOutRuns aligned)
printfn "seed 0 (the table's), test split %d rows; τ_B = %g; context: cpu %.0f s" data.Test.Y.shape[0] tau (cpu ())

let opt (x: float option) = x |> Option.map (sprintf "%.5f") |> Option.defaultValue "–"
let show label (t: float) (r: Evaluation.Row) =
    printfn "row\t%s\tτ %.1f\t%d networks\tacc %.4f (min %.4f)\tCE raw %.6f\tCE cal %.6f (%.17g)\tdiv %s\tnovelty %s\t(cpu %.0f s, wall %.0f s)"
        label t r.Count r.AccuracyMean r.AccuracyMin r.CrossEntropy r.CalibratedCrossEntropy r.CalibratedCrossEntropy (opt r.Diversity)
        (r.NoveltyRatio |> Option.map (sprintf "%.3f") |> Option.defaultValue "–") (cpu ()) sw.Elapsed.TotalSeconds

// the check: the table's cached samples of the row (the CLI's, 512 steps at the table's τ then) equal its table-7.1.csv
let csv = File.ReadAllLines(Path.Combine(adir, "table-7.1.csv")) |> Array.map (fun l -> l.Split ',')
let col name = Array.IndexOf(csv[0], name)
let () =
    let s = MainJobConfig.samplingOf c fA
    let _, theta, _ = Sampling.load (MainJob.samplesPath c fA)
    let r = Evaluation.evaluate ctx fA.Name theta
    theta.Dispose()
    show "check (cached table samples, 3,000 it)" nan r
    let line = csv |> Array.find (fun x -> x[0] = "raw" && x[1] = fA.Name)
    for field, v in [ "accuracy_mean", r.AccuracyMean; "ce_calibrated", r.CalibratedCrossEntropy; "ce_raw", r.CrossEntropy ] do
        let t = Double.Parse(line[col field], Globalization.CultureInfo.InvariantCulture)
        printfn "check\t%s\t%s\tthis run %.17g, table-7.1.csv %.17g, |Δ| %g" fA.Name field v t (abs (v - t))

let baselines = Evaluation.baselines ctx id c.Sampling.Count (c.Seed + 1L) h.Train pool
let gaussian = baselines |> List.find (fun b -> b.Name = "fitted Gaussian")
for b in baselines do
    printfn "baseline\t%s\tacc %.4f (min %.4f)\tCE cal %.6f (%.17g)\tdiv %s" b.Name b.AccuracyMean b.AccuracyMin b.CalibratedCrossEntropy b.CalibratedCrossEntropy (opt b.Diversity)

// the judged row: B at τ_B
let r =
    let flow = Flow.load torch.CPU (MainJob.flowPath cB fB)
    let s = MainJobConfig.samplingOf cB fB
    use theta = draw data s sampler s.Count tau flow
    let r = Evaluation.evaluate ctx fB.Name theta
    show "B (9,000 it)" tau r
    r

let bar = gaussian.CalibratedCrossEntropy
printfn "\nbar: mean accuracy ≥ 0.98 and calibrated CE < the τ = 1 fitted Gaussian's %.6f (%.17g); A (3,000 it, τ 0.9): %.6f (%.17g)" bar bar ceA ceA
printfn "B: accuracy mean %.4f (≥ 0.98: %b), calibrated CE %.6f (%+.2f%% vs the bar: below %b; %+.2f%% vs A: below %b)"
    r.AccuracyMean (r.AccuracyMean >= 0.98) r.CalibratedCrossEntropy (100.0 * (r.CalibratedCrossEntropy / bar - 1.0)) (r.CalibratedCrossEntropy < bar)
    (100.0 * (r.CalibratedCrossEntropy / ceA - 1.0)) (r.CalibratedCrossEntropy < ceA)
printfn "adopted: %b" (r.AccuracyMean >= 0.98 && r.CalibratedCrossEntropy < bar && r.CalibratedCrossEntropy < ceA)
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
