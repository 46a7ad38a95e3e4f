// The fidelity columns of the MNIST Table 7.2 and the UCI nine-row table re-evaluated from the reproductions' saved
// samples (evaluation only: nothing is trained or sampled), under every `Fidelity.Kind`, the old column (`rbf`) beside
// the others, each with its floor (docs/fidelity-metric.md). The rows are drawn exactly as `MainJob.evaluate` draws
// them (flows from their samples files; baselines from generators seeded with seed + 1, in the same order), in each
// space that has a flow; the old column is checked against the folder's evaluation.json.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/fidelity-tables.fsx mnist=DIR uci=DIR [out=CSV] > LOG
#load "_load.fsx"
open _load
open System
open System.IO
open TorchSharp
open WeightFlow

let args =
    fsi.CommandLineArgs |> Array.skip 1 |> Array.map (fun s -> let i = s.IndexOf '=' in s.Substring(0, i), s.Substring(i + 1)) |> Map.ofArray
torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let _noGrad = torch.no_grad ()
let sw = Diagnostics.Stopwatch.StartNew()
let out = Collections.Generic.List<string>()
out.Add "job,space,row,count,kind,fidelity,floor,evaluation_json_mmd2"

let table (jobName: string) (c: MainJobConfig) =
    let data = Sources.load c.Task c.Zoo.Seed
    let aligned = Zoo.load (MainJob.alignedPath c)
    let canonical = Zoo.load (MainJob.canonicalPath c)
    let saved = MainJob.tablesOfJson (File.ReadAllText(MainJob.evaluationPath c))
    let samples (f: FlowRun) = let _, theta, _ = Sampling.load (MainJob.samplesPath c f) in theta
    let spaces =
        [ "raw", aligned, id, c.Flows |> List.filter (fun f -> f.Training.Flow = Euclidean)
          "canonical", canonical, Canonical.canonicalize Canonical.defaultConfig aligned.Layout,
          c.Flows |> List.filter (fun f -> f.Training.Flow <> Euclidean) ]
        |> List.filter (fun (_, _, _, fs) -> not fs.IsEmpty)
    for space, zoo, project, flows in spaces do
        let ctx, h, pool = Evaluation.ofHoldout c.Evaluation id data zoo (Holdout.lastRuns c.HeldOutRuns zoo)
        let contexts = [ for k in Fidelity.Kind.all -> k, (if k = c.Evaluation.Fidelity then ctx else Evaluation.withFidelity k ctx) ]
        printfn "== %s %s: context %.0f s; floors %s" jobName space sw.Elapsed.TotalSeconds
            (contexts |> List.map (fun (k, x) -> $"{Fidelity.Kind.name k} %.5f{x.Zoo.Value.FidelityFloor}") |> String.concat ", ")
        let temperatures = flows |> List.map (fun f -> (MainJobConfig.samplingOf c f).Temperature) |> List.filter (fun t -> t <> 1.0) |> List.distinct
        let rows =
            [ for f in flows do yield f.Name, samples f
              let g = Scope.Rng.create (c.Seed + 1L)
              // `Evaluation.baselines`: the mean (one network: no fidelity) draws nothing, then the Gaussian, then the held-out row
              yield "fitted Gaussian", Baselines.gaussian project g c.Sampling.Count h.Train
              yield "held-out", Baselines.heldOut g c.Sampling.Count pool
              for tau in temperatures do
                  let g = Scope.Rng.create (c.Seed + 1L)
                  yield $"fitted Gaussian (τ {tau})", Baselines.gaussianAt tau project g c.Sampling.Count h.Train
              if c.FullCovarianceBaseline then
                  for tau in 1.0 :: temperatures do
                      let g = Scope.Rng.create (c.Seed + 1L)
                      yield (if tau = 1.0 then Evaluation.FullGaussianName else $"{Evaluation.FullGaussianName} (τ {tau})"),
                      Baselines.fullGaussianAt tau project g c.Sampling.Count h.Train ]
        let savedRows = saved |> List.filter (fun t -> t.Space = space) |> List.collect (fun t -> t.Flows @ t.Baselines)
        for name, theta in rows do
            let savedMmd = savedRows |> List.tryFind (fun r -> r.Name = name) |> Option.bind (fun r -> r.Fidelity)
            let values = [ for k, x in contexts -> k, (Evaluation.fidelityOf x theta).Value, x.Zoo.Value.FidelityFloor ]
            let rbf = values |> List.pick (fun (k, v, _) -> if k = Fidelity.Kind.Rbf then Some v else None)
            printfn "%-5s %-9s %-48s n %3d | rbf %.4f (evaluation.json %s) | %s" jobName space name theta.shape[0] rbf
                (match savedMmd with Some v -> $"%.4f{v}" | None -> "-")
                (values |> List.filter (fun (k, _, _) -> k <> Fidelity.Kind.Rbf) |> List.map (fun (k, v, fl) -> $"{Fidelity.Kind.name k} %.4f{v} (%.4f{fl})") |> String.concat " | ")
            for k, v, fl in values do
                let savedText = match savedMmd with Some s -> s.ToString("R") | None -> ""
                out.Add $"{jobName},{space},\"{name}\",{theta.shape[0]},{Fidelity.Kind.name k},{v:R},{fl:R},{savedText}"
        pool.Dispose()

match args.TryFind "mnist" with
| Some dir -> table "mnist" (ReproduceMnist.config Full 0L dir).Job
| None -> ()
match args.TryFind "uci" with
| Some dir -> table "uci" (Reproduce.uciConfig Full 0L dir).Job
| None -> ()
let csv = args.TryFind "out" |> Option.defaultValue "results/fidelity-tables.csv"
File.WriteAllLines(csv + ".tmp", out)
File.Move(csv + ".tmp", csv, true)
printfn "wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds - 0.0)
