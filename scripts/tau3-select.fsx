// The selection of the pre-stated test docs/uci/tau3.md (R-τ₃): one sampling temperature for Table 7.1's three
// Euclidean RT rows, pooled over zoo seeds other than 0, with the table's sampler (512 Euler steps, unguided). For each
// seed (flows of scripts/guided-train.fsx DIR SEED), row and τ of the grid: 64 networks, T per network fitted on the
// training split, V = mean validation CE, D = validation diversity; per seed the held-out checkpoints' D_ho (the floor's
// reference) and the raw τ = 1 fitted Gaussian's V (the normaliser G). Pooled score P(τ) = mean over (seed, row) of
// V / G(seed); τ₃ = smallest P among the τs with D ≥ 0.5 D_ho at every seed and row. Prints every number; the test
// split is never read; nothing is trained and the folders are only read.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/tau3-select.fsx DIR1 SEED1 DIR2 SEED2 ... > LOG
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let folders =
    match fsi.CommandLineArgs |> Array.skip 1 |> Array.toList with
    | args when args.Length >= 2 && args.Length % 2 = 0 -> args |> List.chunkBySize 2 |> List.map (fun p -> p[0], int64 p[1])
    | _ -> failwith "usage: tau3-select.fsx DIR1 SEED1 [DIR2 SEED2 ...]"
if folders |> List.exists (fun (_, s) -> s = 0L) then failwith "tau3-select.fsx selects on zoo seeds other than 0 (seed 0's split is the judged one)"

/// R-τ₃'s settings (docs/uci/tau3.md): the grid, the floor (R-τ's), 64 networks per candidate, 512 Euler steps.
let grid = [ 0.5; 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ]
let floorFraction = TemperatureSelection.preStated.DiversityFloor
let count = 64
let sampler = candidates |> List.find (fun k -> k.Name = "S1")
if sampler.Steps <> 512 || sampler.Lambda <> 0.0 then failwith "S1 is expected to be 512 unguided Euler steps"

let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds

/// One (seed, row, τ) candidate's score.
type Cell = { Seed: int64; Row: string; Tau: float; V: float; D: float; Dho: float; G: float }

let cells = Collections.Generic.List<Cell>()
for dir, seed in folders do
    let c = euclideanJob seed dir
    let cal = c.Evaluation.Calibration
    let data = Sources.load c.Task c.Zoo.Seed
    let aligned = Zoo.load (MainJob.alignedPath c)
    let layout = aligned.Layout
    printfn "folder %s, seed %d: %d training, %d validation rows scored (test split not read); grid %A, floor %.2fx held-out, %d networks x %d steps per candidate"
        c.OutDir c.Seed data.Train.Y.shape[0] data.Valid.Y.shape[0] grid floorFraction count sampler.Steps
    // the floor's reference as R-τ draws it (the held-out baseline's 256 checkpoints, after the τ = 1 Gaussian,
    // generator seed + 1), and the normaliser: the raw fitted Gaussian at τ 1 (128 networks, generator seed + 1)
    let h = Holdout.lastRuns c.HeldOutRuns aligned
    let _, pool = Holdout.halves aligned h
    let dho =
        use g = Scope.Rng.create (c.Seed + 1L)
        (Baselines.gaussian id g c.Sampling.Count h.Train).Dispose()
        use ho = Baselines.heldOut g c.Sampling.Count pool
        (TemperatureSelection.score cal layout data ho).Diversity
    let gauss =
        use g = Scope.Rng.create (c.Seed + 1L)
        use theta = Baselines.gaussianAt 1.0 id g TemperatureSelection.preStated.Count h.Train
        TemperatureSelection.score cal layout data theta
    printfn "reference\tseed %d\theld-out %d checkpoints: D_ho %.6f, floor %.6f\tfitted Gaussian τ 1 (%d): G = V %.5f, D %.6f (%.2fx)\t(cpu %.0f s, wall %.0f s)"
        seed c.Sampling.Count dho (floorFraction * dho) TemperatureSelection.preStated.Count gauss.ValidationCrossEntropy gauss.Diversity (gauss.Diversity / dho) (cpu ()) sw.Elapsed.TotalSeconds
    for f in c.Flows do
        let flow = Flow.load torch.CPU (MainJob.flowPath c f)
        let s = MainJobConfig.samplingOf c f
        for tau in grid do
            use theta = draw data s sampler count tau flow
            let sc = TemperatureSelection.score cal layout data theta
            let cell = { Seed = seed; Row = f.Name; Tau = tau; V = sc.ValidationCrossEntropy; D = sc.Diversity; Dho = dho; G = gauss.ValidationCrossEntropy }
            cells.Add cell
            printfn "cand\tseed %d\t%s\t%.1f\tV %.5f\tV/G %.5f\tD %.6f\tD/D_ho %.2f\t(cpu %.0f s, wall %.0f s)"
                seed f.Name tau cell.V (cell.V / cell.G) cell.D (cell.D / dho) (cpu ()) sw.Elapsed.TotalSeconds
        // information only: this seed's own R-τ choice for the row at 512 steps (64 networks)
        let own = [ for x in cells do if x.Seed = seed && x.Row = f.Name then { TemperatureSelection.Temperature = x.Tau; TemperatureSelection.Score = { ValidationCrossEntropy = x.V; Diversity = x.D } } ]
        printfn "info\tseed %d\t%s\tR-τ's own choice at 512 steps (64 networks): %A" seed f.Name (TemperatureSelection.choose { TemperatureSelection.preStated with Grid = grid; Count = count } dho own)

// the pooled rule
let all = List.ofSeq cells
let pooled tau = all |> List.filter (fun x -> x.Tau = tau) |> List.averageBy (fun x -> x.V / x.G)
let minRatio tau = all |> List.filter (fun x -> x.Tau = tau) |> List.map (fun x -> x.D / x.Dho) |> List.min
let eligible = grid |> List.filter (fun tau -> all |> List.filter (fun x -> x.Tau = tau) |> List.forall (fun x -> x.D >= floorFraction * x.Dho))
let tieKey tau = abs (tau - 1.0), -tau
let chosen, how =
    match eligible with
    | [] -> (grid |> List.minBy (fun tau -> -(minRatio tau), tieKey tau)), "no τ eligible at every seed and row: the largest min D/D_ho"
    | es -> (es |> List.minBy (fun tau -> pooled tau, tieKey tau)), "smallest pooled P among the eligible"
let edge = if chosen = List.head grid || chosen = List.last grid then " (grid edge)" else ""

let rows = all |> List.map (fun x -> x.Row) |> List.distinct
let seeds = folders |> List.map snd
printfn "\n| τ | %s | P(τ) = mean V/G | min D/D_ho | eligible |" (String.concat " | " [ for s in seeds do for r in rows -> $"seed {s} {r}: V (V/G, D/D_ho)" ])
printfn "| --- | %s | --- | --- | --- |" (String.concat " | " [ for _ in seeds do for _ in rows -> "---" ])
for tau in grid do
    let cellsAt = [ for s in seeds do for r in rows -> all |> List.find (fun x -> x.Seed = s && x.Row = r && x.Tau = tau) ]
    printfn "| %.1f | %s | %.5f | %.2f | %s |" tau (cellsAt |> List.map (fun x -> sprintf "%.5f (%.4f, %.2f)" x.V (x.V / x.G) (x.D / x.Dho)) |> String.concat " | ")
        (pooled tau) (minRatio tau) (if List.contains tau eligible then "yes" else "no")
printfn "\ninfo (chooses nothing): per-row pooled mean V/G over the seeds"
for r in rows do
    printfn "info\t%s\t%s" r (grid |> List.map (fun tau -> sprintf "%.1f: %.5f" tau (all |> List.filter (fun x -> x.Row = r && x.Tau = tau) |> List.averageBy (fun x -> x.V / x.G))) |> String.concat ", ")
printfn "\nchoice\tτ₃ = %.1f%s\t(%s; P %.5f; eligible %A)" chosen edge how (pooled chosen) eligible
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
