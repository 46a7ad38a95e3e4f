// Variants of the UCI main job's flows, judged as the main job judges them (issue 11): `MainJobConfig.uci SEED OUT`
// (its zoo, held-out runs, 256 samples, each flow's own prior and τ from `MainJobConfig.uciFlow`, the CPU preset),
// with the flows replaced by the variants named on the command line; the flows are trained one at a time on one
// intra-op thread (ParallelFlows 1), so each flow's recorded training CPU seconds are its own thread's
// (`train.cpu_seconds`). Prints `run --json`'s figures (flows and tables, with the three baselines of each space
// computed in the same run) plus, per flow: its thread-clocked training CPU seconds, the training loss per t bucket
// (five buckets, 512 pairs each, coupled as in training, LossByTime) beside predicting the zoo mean on the same pairs,
// and its samples' test accuracy and cross-entropy quantiles (are a few samples catastrophic?).
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/uci-main-flows.fsx SEED OUT SPEC [SPEC ...] > flows.json
// SPEC = BASE[:key=value[;key=value...]], BASE one of the main job's flows (Euclidean, Normalized, Geometric,
// "Euclidean MLP"), keys: coupling (independent|ot|symmetry|symmetry+ot), prior (origin|fitted|standardized), tau,
// priorscale (k: the fitted prior's std times k, after prior=fitted or on a flow with it),
// iterations (warm-up kept at a tenth), lr, ema, name (the row's name; default: the spec with spaces for : ; =). A bare BASE is the main
// job's flow as it is (same name, so a main job's run in OUT is reused). Earlier flows and samples in OUT with the same
// settings are reused (the main job's stage keys); the evaluation reruns.
//   e.g. scripts/uci-couplings.sh: "Geometric:coupling=independent" "Geometric:coupling=ot" Geometric "Geometric:coupling=symmetry+ot"
#load "_load.fsx"
open System
open System.Globalization
open System.IO
open System.Text.Json
open System.Threading
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
if args.Length < 3 then failwith "usage: uci-main-flows.fsx SEED OUT SPEC [SPEC ...] (SPEC = BASE[:key=value;...], see the header)"
let seed, out = int64 args[0], args[1]
let preset = MainJobConfig.uci seed out
let parseFloat (s: string) = Double.Parse(s, CultureInfo.InvariantCulture)

let variant (spec: string) : FlowRun =
    let baseName, opts =
        match spec.IndexOf ':' with
        | -1 -> spec, []
        | i -> spec[.. i - 1], spec[i + 1 ..].Split(';', StringSplitOptions.RemoveEmptyEntries) |> Array.map (fun kv -> let p = kv.Split('=', 2) in p[0].Trim(), p[1].Trim()) |> List.ofArray
    let f =
        match preset.Flows |> List.tryFind (fun f -> f.Name = baseName) with
        | Some f -> f
        | None -> failwith $"""No main-job flow named '{baseName}'; the flows are {preset.Flows |> List.map (fun f -> f.Name) |> String.concat ", "}."""
    let apply (f: FlowRun) (k: string, v: string) =
        let t = f.Training
        match k with
        | "coupling" -> { f with Training = { t with Coupling = Coupling.parse v } }
        | "prior" ->
            let centre = match v with "origin" -> Origin | "fitted" -> FitToTargets false | "standardized" -> FitToTargets true | _ -> failwith $"prior '{v}': use origin, fitted or standardized."
            { f with Training = { t with Prior = { t.Prior with Centre = centre } } }
        | "tau" -> { f with SamplingTemperature = Some (parseFloat v) }
        | "priorscale" ->
            // the Gaussian fitted to the training targets (as FitToTargets fits it, Training.train) with its std times
            // k: a wider prior to train and sample from. Needs OUT's aligned zoo (run the job once first). The flow's
            // stage key records only "fitted", so the row's name must carry k (the default name does).
            let aligned = MainJob.alignedPath preset
            if not (File.Exists aligned) then failwith $"priorscale needs {aligned}: run the main job (or this script without priorscale) in {out} first."
            let zoo = Zoo.load aligned
            let split = Holdout.lastRuns preset.HeldOutRuns zoo
            let centre =
                match Prior.fit false zoo.Layout split.Train with
                | Fitted g -> Fitted { g with Std = g.Std * parseFloat v }
                | c -> c
            split.Train.Dispose(); split.HeldOut.Dispose(); zoo.Theta.Dispose()
            { f with Training = { t with Prior = { t.Prior with Centre = centre } } }
        | "iterations" ->
            let n = int v
            { f with Training = { t with Iterations = n; Schedule = (match t.Schedule with WarmupCosine _ -> WarmupCosine (max 1 (n / 10)) | s -> s) } }
        | "lr" -> { f with Training = { t with LearningRate = parseFloat v } }
        | "ema" -> { f with Training = { t with EmaDecay = parseFloat v } }
        | "name" -> { f with Name = v }
        | _ -> failwith $"Unknown key '{k}' in '{spec}'; keys: coupling, prior, tau, priorscale, iterations, lr, ema, name."
    // the row's and the files' name: "Geometric coupling ot" for "Geometric:coupling=ot"
    let named = if opts.IsEmpty || opts |> List.exists (fun (k, _) -> k = "name") then f else { f with Name = spec.Replace(':', ' ').Replace(';', ' ').Replace('=', ' ') }
    opts |> List.fold apply named

let flows = args[2..] |> Array.map variant |> List.ofArray
let c = { preset with Flows = flows; ParallelFlows = 1 }
let sw = Diagnostics.Stopwatch.StartNew()
let r = MainJob.run c ignore CancellationToken.None
let wall = sw.Elapsed.TotalSeconds

let meta (path: string) =
    let s = Storage.read path
    for _, t in s.Tensors do t.Dispose()
    s.Metadata

let data = Sources.load Task.Uci c.Zoo.Seed
let split = Holdout.lastRuns c.HeldOutRuns r.Aligned
let quantiles (xs: float[]) =
    let s = Array.sort xs
    let q (p: float) = s[min (s.Length - 1) (int (p * float (s.Length - 1) + 0.5))]
    dict [ "min", box s[0]; "p05", box (q 0.05); "p25", box (q 0.25); "median", box (q 0.5); "p75", box (q 0.75); "p95", box (q 0.95); "max", box s[s.Length - 1] ]

let perFlow =
    [| for f, run in List.zip r.Flows flows ->
        let m = meta f.Path
        let flow = Flow.load torch.CPU f.Path
        // the loss per t bucket of the trained (EMA) flow beside predicting the zoo mean, on its training targets,
        // coupled as in training (as `weightflow train` prints it)
        let byTime =
            let space = flow.Space
            use inSpace = Scope.noGrad (fun () -> FlowSpace.embed space split.Train)
            LossByTime.evaluate space flow.Prior run.Training.Coupling run.Training.BatchSize 5 512 1L inSpace
                [ Flow.predict flow; LossByTime.zooMean space inSpace ]
        // each sample's (uncalibrated) test accuracy and CE: is the mean driven by a few bad networks?
        let layout, theta, _ = Sampling.load f.SamplesPath
        let acc, ce =
            Scope.noGrad (fun () ->
                (Mlp.accuracy layout theta data.Test.X data.Test.Y).data<float32>().ToArray() |> Array.map float,
                (Mlp.crossEntropy layout theta data.Test.X data.Test.Y).data<float32>().ToArray() |> Array.map float)
        theta.Dispose()
        dict [ "name", box f.Name
               "coupling", box (Coupling.text run.Training.Coupling)
               "prior", box (Prior.centreText run.Training.Prior.Centre)
               "iterations", box f.Iterations
               "temperature", box f.Temperature
               "training_seconds", box (Option.toNullable f.TrainingSeconds)
               "train_seconds_recorded", box (m.TryFind "train.seconds" |> Option.map parseFloat |> Option.toNullable)
               "train_cpu_seconds", box (m.TryFind "train.cpu_seconds" |> Option.map parseFloat |> Option.toNullable)
               "train_cpu_scope", box (m.TryFind "train.cpu_scope" |> Option.defaultValue "")
               "sampling_seconds", box (Option.toNullable f.SamplingSeconds)
               "final_loss", box f.FinalLoss
               "loss_by_t_bucket", box byTime[0]
               "zoo_mean_loss_by_t_bucket", box byTime[1]
               "sample_accuracy", box (quantiles acc)
               "sample_ce_raw", box (quantiles ce) ] |]

let o =
    dict [ "seed", box seed; "wall_seconds", box wall
           "held_out_runs", box c.HeldOutRuns; "samples", box c.Sampling.Count
           "flows", box perFlow
           "tables", box [| for t in r.Tables -> dict [ "space", box t.Space; "flows", box t.Flows; "baselines", box t.Baselines ] |] ]
Console.Out.WriteLine(JsonSerializer.Serialize(o, JsonSerializerOptions(WriteIndented = true)))
split.Train.Dispose(); split.HeldOut.Dispose()
r.Zoo.Theta.Dispose()
r.Aligned.Theta.Dispose()
