// The UCI main job's Euclidean RT at one zoo seed, scored on the VALIDATION split only (issue 12, docs/results/
// main-job-seeds.md): the main job's own zoo, alignment and flow stages (`MainJobConfig.uci SEED DIR`, cached in DIR
// under the main job's keys, so a later `weightflow run --seed SEED --out DIR` reuses them), then for every variant
// 128 networks from the flow's sampler, each network's temperature fitted on the training split alone and its
// cross-entropy scored on the validation split (`Metrics.compute`, as `TemperatureSelection.score`); the same for the
// τ = 1 fitted Gaussian (drawn as the table's row, generator seed + 1) and the held-out checkpoints (the diversity
// reference). The test split is never read. Prints one line per row: V mean / median / p90 / max, accuracy mean /
// min, diversity D and D / D_held-out, training and sampling CPU seconds.
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/seeds-euclid.fsx SEED DIR SPEC [SPEC ...]
// SPEC = Euclidean[:key=value;...]: training keys iterations (warm-up a tenth), ema, lr (a flow of its own, trained
// once, cached by its name); sampling keys steps, tau, method (euler|heun|rk4). A bare "Euclidean" is the main job's.
#load "_load.fsx"
open System
open System.Globalization
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads 1
let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 3 then failwith "usage: seeds-euclid.fsx SEED DIR SPEC [SPEC ...]"
let seed, dir = int64 args[0], args[1]
let job = MainJobConfig.uci seed dir
let baseFlow = job.Flows |> List.find (fun f -> f.Name = "Euclidean")
let pf (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let sw = Diagnostics.Stopwatch.StartNew()
let count = 128

let parse (spec: string) =
    let opts =
        match spec.IndexOf ':' with
        | -1 -> []
        | i -> spec[i + 1 ..].Split(';', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun kv -> let p = kv.Split('=', 2) in p[0].Trim(), p[1].Trim()) |> List.ofArray
    let trainKeys = opts |> List.filter (fun (k, _) -> List.contains k [ "iterations"; "ema"; "lr" ])
    let flow =
        trainKeys |> List.fold (fun (f: FlowRun) (k, v) ->
            let t = f.Training
            match k with
            | "iterations" ->
                let n = int v
                { f with Training = { t with Iterations = n; Schedule = (match t.Schedule with WarmupCosine _ -> WarmupCosine (max 1 (n / 10)) | s -> s) } }
            | "ema" -> { f with Training = { t with EmaDecay = pf v } }
            | _ -> { f with Training = { t with LearningRate = pf v } }) baseFlow
    let flow = if trainKeys.IsEmpty then flow else { flow with Name = "Euclidean " + (trainKeys |> List.map (fun (k, v) -> $"{k} {v}") |> String.concat " ") }
    let s0 = MainJobConfig.samplingOf job flow
    let sampling =
        opts |> List.fold (fun (s: SamplingConfig) (k, v) ->
            match k with
            | "steps" -> { s with Steps = int v }
            | "tau" -> { s with Temperature = pf v }
            | "method" -> { s with Method = (match v with "euler" -> Method.Euler | "heun" -> Method.Heun | "rk4" -> Method.Rk4 | _ -> failwith $"method {v}") }
            | "iterations" | "ema" | "lr" -> s
            | _ -> failwith $"Unknown key '{k}' in '{spec}'") { s0 with Count = count }
    flow, sampling

let data = Sources.load job.Task job.Zoo.Seed
let zoo, _, _ = MainJob.trainZoo job ignore CancellationToken.None
let aligned, _, _ = MainJob.alignZoo job zoo ignore
printfn "seed %d, %s: zoo and alignment ready (process cpu %.0f s, wall %.0f s); %d training / %d validation rows; test split not read"
    seed dir (cpu ()) sw.Elapsed.TotalSeconds data.Train.Y.shape[0] data.Valid.Y.shape[0]
let cal = job.Evaluation.Calibration
let layout = aligned.Layout
let h = Holdout.lastRuns job.HeldOutRuns aligned
let _, pool = Holdout.halves aligned h

let q (xs: float[]) (p: float) = let s = Array.sort xs in s[min (s.Length - 1) (int (p * float (s.Length - 1) + 0.5))]
let scoreRow (name: string) (theta: Tensor) (reference: float) (extra: string) =
    let m = Scope.noGrad (fun () -> Metrics.compute cal layout data.Train data.Valid theta)
    let ce = m.CalibratedCrossEntropy.to_type(torch.float64).data<float>().ToArray()
    let acc = m.Accuracy.to_type(torch.float64).data<float>().ToArray()
    let d = (Diversity.ofLogits m.CalibratedLogits |> Option.get)
    printfn "row\t%s\tV %.5f\tmedian %.5f\tp90 %.5f\tmax %.5f\tacc %.4f (min %.4f)\tD %.6f\tD/Dho %.2f\t%s\t(process cpu %.0f s, wall %.0f s)"
        name (Array.average ce) (q ce 0.5) (q ce 0.9) (Array.max ce) (Array.average acc) (Array.min acc) d (d / reference) extra (cpu ()) sw.Elapsed.TotalSeconds
    d

// the held-out reference and the τ = 1 fitted Gaussian, drawn exactly as `Evaluation.baselines` draws them
let reference =
    use g = Scope.Rng.create (job.Seed + 1L)
    use gauss = Baselines.gaussian id g job.Sampling.Count h.Train
    use ho = Baselines.heldOut g job.Sampling.Count pool
    let d = Scope.noGrad (fun () -> Diversity.ofLogits (Metrics.compute cal layout data.Train data.Valid ho).CalibratedLogits |> Option.get)
    scoreRow "held-out" ho d "" |> ignore
    scoreRow "fitted Gaussian (tau 1)" (gauss.narrow(0L, 0L, int64 count)) d "" |> ignore
    d
for tau in [ 0.8 ] do
    use g = Scope.Rng.create (job.Seed + 1L)
    use x = Baselines.gaussianAt tau id g count h.Train
    scoreRow $"fitted Gaussian (tau {tau})" x reference "" |> ignore

let flows = Collections.Generic.Dictionary<string, Flow>()
for spec in args[2..] do
    let f, s = parse spec
    let flow =
        match flows.TryGetValue f.Name with
        | true, fl -> fl
        | _ ->
            let c0 = cpu ()
            let fl, _, loss, reused = MainJob.trainFlow job zoo aligned f ignore CancellationToken.None
            printfn "flow\t%s\t%d it, ema %g, lr %g\tfinal loss %.5f\t%s (process cpu +%.0f s)" f.Name f.Training.Iterations f.Training.EmaDecay f.Training.LearningRate loss (if reused then "reused" else "trained") (cpu () - c0)
            flows[f.Name] <- fl
            fl
    let c0 = cpu ()
    let r = Scope.noGrad (fun () -> Sampling.sample s ignore torch.CPU flow)
    let sampleCpu = cpu () - c0
    scoreRow spec r.Theta reference $"non-finite {r.NonFinite.Length}, sampling cpu {sampleCpu:F0} s" |> ignore
    r.Theta.Dispose()
printfn "total: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
