// The pre-stated sampling-temperature rule R-τ (docs/uci/tau-selection.md, `TemperatureSelection.preStated`) applied
// to a finished folder's trained flows: for every flow and τ in the grid, 128 networks from the flow's own sampler
// at τ (the folder's sampling settings, seed and steps), scored on the validation split with temperatures fitted on
// the training split alone (`TemperatureSelection.score`; the test split is never read); the fitted Gaussian of each
// space likewise (drawn as the table's row, generator seed + 1); the floor from the held-out baseline's 256
// checkpoints (drawn as the table's row). Prints every candidate and each row's choice; nothing is trained and the
// folder is only read. Samples at a τ the folder already holds (its cached samples file) are reused: their first 128
// networks are exactly what a 128-network run draws (the prior is drawn batch by batch from one generator, batches of
// 64; checked on two rows, `check` lines).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau-select.fsx repro DIR > LOG     (reproduce uci --preset full, seed 0)
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau-select.fsx main DIR SEED > LOG (weightflow run --seed SEED --out DIR)
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau-select.fsx repro-fitted DIR > LOG (the Euclidean RT rows from the
//     fitted prior, docs/uci/euclid-rows.md: only their flows and the raw space's fitted Gaussian; their flows'
//     samples must not be the isotropic rows' cached ones: run it before those rows are re-sampled)
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau-select.fsx repro-euclid256 DIR > LOG (the three nine-table Euclidean RT
//     rows and the raw fitted Gaussian, 256 networks per candidate, the table's own count: docs/uci/euclid2.md)
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau-select.fsx repro-euclid-lr DIR ITERATIONS LR > LOG (the three nine-table
//     Euclidean RT rows trained by scripts/euclid3-train.fsx DIR ITERATIONS LR, and the raw fitted Gaussian, 128
//     networks per candidate as R-τ: docs/uci/euclid3.md)
#load "_load.fsx"
open System
open System.IO
open TorchSharp
open WeightFlow

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let args = fsi.CommandLineArgs |> Array.skip 1
let c =
    match args with
    | [| "repro"; dir |] -> (Reproduce.uciConfig Full 0L dir).Job
    | [| "main"; dir; seed |] -> MainJobConfig.uci (int64 seed) dir
    // the Euclidean RT rows from the fitted prior (docs/uci/euclid-rows.md), trained by scripts/euclid-train.fsx
    | [| "repro-fitted"; dir |] ->
        { (Reproduce.uciConfig Full 0L dir).Job with
            Flows = Reproduce.uciFlows FittedPrior Full 0L |> List.filter (fun f -> f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt) }
    // the nine-table Euclidean RT rows scored on the 256 networks the table samples (docs/uci/euclid2.md)
    | [| "repro-euclid256"; dir |] ->
        let c = (Reproduce.uciConfig Full 0L dir).Job
        { c with Flows = c.Flows |> List.filter (fun f -> f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt && f.Training.Coupling <> SymmetryAware) }
    // the three Euclidean RT rows with another length and learning rate (docs/uci/euclid3.md)
    | [| "repro-euclid-lr"; dir; n; lr |] -> Reproduce.euclidLrJob (Reproduce.euclideanTraining (int n) (float lr)) dir
    | _ -> failwith "usage: tau-select.fsx repro DIR | main DIR SEED | repro-fitted DIR | repro-euclid256 DIR | repro-euclid-lr DIR ITERATIONS LR"
let rule =
    match args with
    | [| "repro-euclid256"; _ |] -> { TemperatureSelection.preStated with Count = MainJobConfig.samples }
    | _ -> TemperatureSelection.preStated
let cal = c.Evaluation.Calibration
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let canonical = Zoo.load (MainJob.canonicalPath c)
let layout = aligned.Layout
let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
printfn "folder %s, seed %d: %d training, %d validation rows scored (test split not read); grid %A, floor %.2fx held-out, %d networks per candidate"
    c.OutDir c.Seed data.Train.Y.shape[0] data.Valid.Y.shape[0] rule.Grid rule.DiversityFloor rule.Count

/// A row's candidates: (τ, score) for every τ of the grid, `draw τ` giving its networks.
let candidates (name: string) (draw: float -> Tensor) =
    [ for tau in rule.Grid ->
        let theta = draw tau
        let s = TemperatureSelection.score cal layout data theta
        theta.Dispose()
        printfn "cand\t%s\t%.1f\tV %.5f\tD %.6f\t(cpu %.0f s, wall %.0f s)" name tau s.ValidationCrossEntropy s.Diversity (cpu ()) sw.Elapsed.TotalSeconds
        { TemperatureSelection.Temperature = tau; TemperatureSelection.Score = s } ]

let choices = Collections.Generic.List<string * string * TemperatureSelection.Candidate list * float * TemperatureSelection.Choice>()

let spaces =
    [ "raw", aligned, id, c.Flows |> List.filter (fun f -> f.Training.Flow = Euclidean)
      "canonical", canonical, Canonical.canonicalize Canonical.defaultConfig layout, c.Flows |> List.filter (fun f -> f.Training.Flow <> Euclidean) ]
    |> List.filter (fun (_, _, _, fs) -> not fs.IsEmpty)

for space, zoo, project, flows in spaces do
    let h = Holdout.lastRuns c.HeldOutRuns zoo
    let _, pool = Holdout.halves zoo h
    // the held-out baseline's networks exactly as `Evaluation.baselines` draws them (after the τ = 1 Gaussian)
    let reference =
        use g = Scope.Rng.create (c.Seed + 1L)
        (Baselines.gaussian project g c.Sampling.Count h.Train).Dispose()
        use ho = Baselines.heldOut g c.Sampling.Count pool
        (TemperatureSelection.score cal layout data ho).Diversity
    printfn "reference\t%s\theld-out %d checkpoints: validation diversity %.6f, floor %.6f" space c.Sampling.Count reference (rule.DiversityFloor * reference)
    let record name cs =
        let choice = TemperatureSelection.choose rule reference cs
        choices.Add((space, name, cs, reference, choice))
        printfn "choice\t%s\t%s\t%A" space name choice
    for f in flows do
        let path = MainJob.flowPath c f
        if not (File.Exists path) then printfn "skip\t%s: no flow file %s" f.Name path
        else
            let flow = Flow.load torch.CPU path
            let s = MainJobConfig.samplingOf c f
            let cached =
                let p = MainJob.samplesPath c f
                if File.Exists p then
                    let _, theta, get = Sampling.load p
                    let t = try float (get "sample.temperature") with _ -> nan
                    let dropped = try int (get "non_finite_dropped") with _ -> 0
                    if dropped = 0 && theta.shape[0] >= int64 rule.Count then Some (t, theta) else (theta.Dispose(); None)
                else None
            let sample tau = (Scope.noGrad (fun () -> Sampling.sample { s with Count = rule.Count; Temperature = tau } ignore torch.CPU flow)).Theta
            let draw tau =
                match cached with
                | Some (t, theta) when t = tau -> theta.narrow(0L, 0L, int64 rule.Count).clone()
                | _ -> sample tau
            // the reuse is exact: checked on the MLP row and one RT row of each folder
            match cached with
            | Some (t, theta) when f.Name.Contains "MLP" || f.Name = "Geometric (aligned + symmetry)" || (f.Name = "Geometric" && c.Flows.Length = 4) ->
                use fresh = sample t
                printfn "check\t%s: cached first %d at τ %.1f vs a fresh %d-network run: max |Δ| = %g" f.Name rule.Count t rule.Count
                    ((fresh - theta.narrow(0L, 0L, int64 rule.Count)).abs().max().ToDouble())
            | _ -> ()
            record f.Name (candidates f.Name draw)
            cached |> Option.iter (fun (_, t) -> t.Dispose())
    record "fitted Gaussian" (candidates $"fitted Gaussian ({space})" (fun tau ->
        use g = Scope.Rng.create (c.Seed + 1L)
        Baselines.gaussianAt tau project g rule.Count h.Train))

printfn "\n| space | row | τ* | how | V(τ*) | D(τ*)/D_ho | V at τ 0.8 | V at τ 1 | D/D_ho at 0.6 … 1.2 |"
printfn "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for space, name, cs, reference, choice in choices do
    let tau = TemperatureSelection.temperature choice
    let at t = cs |> List.find (fun x -> x.Temperature = t)
    let how = match choice with TemperatureSelection.BestAboveFloor _ -> "best V above floor" | TemperatureSelection.NoneAboveFloor _ -> "none above floor: most diverse"
    let ratios = cs |> List.map (fun x -> sprintf "%.2f" (x.Score.Diversity / reference)) |> String.concat " "
    printfn "| %s | %s | %.1f | %s | %.5f | %.2f | %.5f | %.5f | %s |" space name tau how (at tau).Score.ValidationCrossEntropy
        ((at tau).Score.Diversity / reference) (at 0.8).Score.ValidationCrossEntropy (at 1.0).Score.ValidationCrossEntropy ratios
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
