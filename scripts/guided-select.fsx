// The selection of the pre-stated test docs/uci/guided.md (sampling settings of Table 7.1's three Euclidean RT rows),
// on a zoo seed other than 0, validation split only. For each of the three rows (flows of scripts/guided-train.fsx
// DIR SEED): τ* by the unchanged rule R-τ (`TemperatureSelection.preStated`, as scripts/tau-select.fsx: grid
// 0.6 … 1.2, 128 networks per τ from the row's own sampler at the reproduction's 100 Euler steps, T per network fitted
// on the training split, V = mean validation CE, floor D ≥ 0.5x the held-out checkpoints' D_ho), then every other
// candidate sampler at that τ*, the same 128 prior draws (same seed), scored the same way. Prints every number; the
// test split is never read; nothing is trained and the folder is only read.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/guided-select.fsx DIR SEED > LOG
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let dir, seed =
    match fsi.CommandLineArgs |> Array.skip 1 with
    | [| d; s |] -> d, int64 s
    | _ -> failwith "usage: guided-select.fsx DIR SEED"
if seed = 0L then failwith "guided-select.fsx selects on zoo seeds other than 0 (seed 0's split is the judged one)"
let c = euclideanJob seed dir
let rule = TemperatureSelection.preStated
let cal = c.Evaluation.Calibration
let data = Sources.load c.Task c.Zoo.Seed
let aligned = Zoo.load (MainJob.alignedPath c)
let layout = aligned.Layout
let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
printfn "folder %s, seed %d: %d training, %d validation rows scored (test split not read); grid %A, floor %.2fx held-out, %d networks per candidate"
    c.OutDir c.Seed data.Train.Y.shape[0] data.Valid.Y.shape[0] rule.Grid rule.DiversityFloor rule.Count

// the floor's reference exactly as scripts/tau-select.fsx draws it (the held-out baseline's 256 checkpoints, after
// the τ = 1 Gaussian, generator seed + 1)
let h = Holdout.lastRuns c.HeldOutRuns aligned
let _, pool = Holdout.halves aligned h
let reference =
    use g = Scope.Rng.create (c.Seed + 1L)
    (Baselines.gaussian id g c.Sampling.Count h.Train).Dispose()
    use ho = Baselines.heldOut g c.Sampling.Count pool
    (TemperatureSelection.score cal layout data ho).Diversity
printfn "reference\theld-out %d checkpoints: validation diversity %.6f, floor %.6f" c.Sampling.Count reference (rule.DiversityFloor * reference)

let scored (label: string) (tau: float) (theta: Tensor) =
    let s = TemperatureSelection.score cal layout data theta
    theta.Dispose()
    printfn "cand\t%s\t%.1f\tV %.5f\tD %.6f\tD/D_ho %.2f\t(cpu %.0f s, wall %.0f s)" label tau s.ValidationCrossEntropy s.Diversity (s.Diversity / reference) (cpu ()) sw.Elapsed.TotalSeconds
    s

let results = Collections.Generic.List<string * float * (Candidate * TemperatureSelection.Score) list>()
for f in c.Flows do
    let flow = Flow.load torch.CPU (MainJob.flowPath c f)
    let s = MainJobConfig.samplingOf c f
    // R-τ with the table's sampler (S0): the rule as pre-stated, unchanged
    let s0 = candidates.Head
    let cs =
        [ for tau in rule.Grid ->
            { TemperatureSelection.Temperature = tau
              TemperatureSelection.Score = scored $"{f.Name}\t{s0.Name}" tau (draw data s s0 rule.Count tau flow) } ]
    let choice = TemperatureSelection.choose rule reference cs
    let tau = TemperatureSelection.temperature choice
    printfn "choice\t%s\t%A" f.Name choice
    let atTau = cs |> List.find (fun x -> x.Temperature = tau)
    let others = [ for k in candidates.Tail -> k, scored $"{f.Name}\t{k.Name}" tau (draw data s k rule.Count tau flow) ]
    results.Add((f.Name, tau, (s0, atTau.Score) :: others))

// the raw fitted Gaussian at τ 0.7 and 1 (context for V's scale at this seed; not part of the selection)
for tau in [ 0.7; 1.0 ] do
    use g = Scope.Rng.create (c.Seed + 1L)
    scored "fitted Gaussian (raw)" tau (Baselines.gaussianAt tau id g rule.Count h.Train) |> ignore

printfn "\n| row | τ* (R-τ, 100 steps) | %s |" (candidates |> List.map (fun k -> $"V {k.Name} (D/D_ho)") |> String.concat " | ")
printfn "| --- | --- | %s |" (candidates |> List.map (fun _ -> "---") |> String.concat " | ")
for name, tau, ks in results do
    printfn "| %s | %.1f | %s |" name tau (ks |> List.map (fun (_, s) -> sprintf "%.5f (%.2f)" s.ValidationCrossEntropy (s.Diversity / reference)) |> String.concat " | ")
for k in candidates do
    let vs = [ for _, _, ks in results -> ks |> List.find (fun (x, _) -> x.Name = k.Name) |> snd |> fun s -> s.ValidationCrossEntropy ]
    printfn "mean\t%s\tseed %d\tV %.5f over %d rows" k.Name seed (List.average vs) vs.Length
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
