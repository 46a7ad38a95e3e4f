// The selection of the pre-stated test docs/uci/long1.md: Table 7.1's unaligned Euclidean RT row trained 3,000
// iterations (A, the current row, at τ 0.9) or 9,000 (B, scripts/long1-train.fsx), scored as R-τ₃ scores
// (scripts/tau3-select.fsx, docs/uci/tau3.md) on the validation splits of zoo seeds other than 0: 64 networks per
// candidate with the table's sampler (512 Euler steps, unguided, seed = the zoo seed; the same prior draws for A and
// B and every τ), T per network fitted on the training split, V = mean validation CE, D = validation diversity; per
// seed the held-out checkpoints' D_ho (the floor's reference) and the raw τ = 1 fitted Gaussian's V (G).
// P(τ) = mean over the seeds of V / G. τ_B = B's smallest P among the τs with D ≥ 0.5 D_ho at every seed; B is
// selected iff P_B(τ_B) < P_A(0.9). The test split is never read; nothing is trained; the folders are only read.
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/long1-select.fsx ADIR1 BDIR1 SEED1 ADIR2 BDIR2 SEED2 ... > LOG
#load "_load.fsx"
#load "guided-candidates.fsx"
open System
open TorchSharp
open WeightFlow
open GuidedCandidates

torch.set_num_threads (match Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS" with null | "" -> 1 | v -> int v)
let folders =
    match fsi.CommandLineArgs |> Array.skip 1 |> Array.toList with
    | args when args.Length >= 3 && args.Length % 3 = 0 -> args |> List.chunkBySize 3 |> List.map (fun p -> p[0], p[1], int64 p[2])
    | _ -> failwith "usage: long1-select.fsx ADIR1 BDIR1 SEED1 [ADIR2 BDIR2 SEED2 ...]"
if folders |> List.exists (fun (_, _, s) -> s = 0L) then failwith "long1-select.fsx selects on zoo seeds other than 0 (seed 0's split is the judged one)"

/// The settings (docs/uci/long1.md = R-τ₃'s): the grid, the floor, 64 networks per candidate, 512 Euler steps; A's τ.
let grid = [ 0.5; 0.6; 0.7; 0.8; 0.9; 1.0; 1.1; 1.2 ]
let tauA = 0.9
let itersA, itersB = 3000, 9000
let floorFraction = TemperatureSelection.preStated.DiversityFloor
let count = 64
let sampler = candidates |> List.find (fun k -> k.Name = "S1")
if sampler.Steps <> 512 || sampler.Lambda <> 0.0 then failwith "S1 is expected to be 512 unguided Euler steps"

let sw = Diagnostics.Stopwatch.StartNew()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds

/// The unaligned Euclidean RT row of the full preset at zoo seed `seed`, trained `iterations` iterations, in `dir`.
let rowJob (seed: int64) (dir: string) (iterations: int) =
    let job = (Reproduce.uciConfig Full seed dir).Job
    let f = job.Flows |> List.filter (fun f -> Reproduce.isEuclideanRtRow f && f.Source = UnalignedZoo) |> List.exactlyOne
    let f = { f with Training = { f.Training with Iterations = iterations } }
    { job with Flows = [ f ] }, f

/// One (candidate, seed, τ) score.
type Cell = { Cand: string; Seed: int64; Tau: float; V: float; D: float; Dho: float; G: float }

let cells = Collections.Generic.List<Cell>()
for adir, bdir, seed in folders do
    let cA, fA = rowJob seed adir itersA
    let cB, fB = rowJob seed bdir itersB
    // each flow's file must be the recipe it claims (its stages.json key is the trained configuration)
    for c, f in [ cA, fA; cB, fB ] do
        let key = Text.Json.JsonDocument.Parse(IO.File.ReadAllText(IO.Path.Combine(c.OutDir, "stages.json"))).RootElement.GetProperty($"flow:{f.Name}").GetString()
        if not (IO.File.Exists(MainJob.flowPath c f) && key.Contains $";train.iterations={f.Training.Iterations};" && key.Contains $";train.seed={seed};") then
            failwith $"{MainJob.flowPath c f} is not the {f.Training.Iterations}-iteration flow of seed {seed}"
    let c = cA
    let cal = c.Evaluation.Calibration
    let data = Sources.load c.Task c.Zoo.Seed
    let aligned = Zoo.load (MainJob.alignedPath c)
    let layout = aligned.Layout
    printfn "seed %d: A %s, B %s: %d training, %d validation rows scored (test split not read); grid %A, floor %.2fx held-out, %d networks x %d steps per candidate"
        seed adir bdir data.Train.Y.shape[0] data.Valid.Y.shape[0] grid floorFraction count sampler.Steps
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
    printfn "reference\tseed %d\theld-out %d checkpoints: D_ho %.6f, floor %.6f\tfitted Gaussian τ 1 (%d): G = V %.5f (%.17g), D %.6f\t(cpu %.0f s, wall %.0f s)"
        seed c.Sampling.Count dho (floorFraction * dho) TemperatureSelection.preStated.Count gauss.ValidationCrossEntropy gauss.ValidationCrossEntropy gauss.Diversity (cpu ()) sw.Elapsed.TotalSeconds
    for name, cc, f, taus in [ "A", cA, fA, [ tauA ]; "B", cB, fB, grid ] do
        let flow = Flow.load torch.CPU (MainJob.flowPath cc f)
        let s = MainJobConfig.samplingOf cc f
        for tau in taus do
            use theta = draw data s sampler count tau flow
            let sc = TemperatureSelection.score cal layout data theta
            let cell = { Cand = name; Seed = seed; Tau = tau; V = sc.ValidationCrossEntropy; D = sc.Diversity; Dho = dho; G = gauss.ValidationCrossEntropy }
            cells.Add cell
            printfn "cand\t%s (%d it)\tseed %d\t%.1f\tV %.5f (%.17g)\tV/G %.5f\tD %.6f\tD/D_ho %.2f\t(cpu %.0f s, wall %.0f s)"
                name f.Training.Iterations seed tau cell.V cell.V (cell.V / cell.G) cell.D (cell.D / dho) (cpu ()) sw.Elapsed.TotalSeconds

let all = List.ofSeq cells
let at cand tau = all |> List.filter (fun x -> x.Cand = cand && x.Tau = tau)
let pooled cand tau = at cand tau |> List.averageBy (fun x -> x.V / x.G)
let minRatio cand tau = at cand tau |> List.map (fun x -> x.D / x.Dho) |> List.min
let eligible = grid |> List.filter (fun tau -> at "B" tau |> List.forall (fun x -> x.D >= floorFraction * x.Dho))
let tieKey tau = abs (tau - 1.0), -tau
let tauB, how =
    match eligible with
    | [] -> (grid |> List.minBy (fun tau -> -(minRatio "B" tau), tieKey tau)), "no τ eligible at every seed: the largest min D/D_ho"
    | es -> (es |> List.minBy (fun tau -> pooled "B" tau, tieKey tau)), "smallest pooled P among the eligible"
let edge = if tauB = List.head grid || tauB = List.last grid then " (grid edge)" else ""
let seeds = folders |> List.map (fun (_, _, s) -> s)

printfn "\n| candidate | τ | %s | P(τ) = mean V/G | min D/D_ho | eligible |" (String.concat " | " [ for s in seeds -> $"seed {s}: V (V/G, D/D_ho)" ])
printfn "| --- | --- | %s | --- | --- | --- |" (String.concat " | " [ for _ in seeds -> "---" ])
for cand, taus in [ "A", [ tauA ]; "B", grid ] do
    for tau in taus do
        let cs = [ for s in seeds -> at cand tau |> List.find (fun x -> x.Seed = s) ]
        printfn "| %s | %.1f | %s | %.5f | %.2f | %s |" cand tau (cs |> List.map (fun x -> sprintf "%.5f (%.4f, %.2f)" x.V (x.V / x.G) (x.D / x.Dho)) |> String.concat " | ")
            (pooled cand tau) (minRatio cand tau) (if cand = "A" then "(A's τ)" elif List.contains tau eligible then "yes" else "no")
let pA, pB = pooled "A" tauA, pooled "B" tauB
printfn "\nτ_B = %.1f%s\t(%s; eligible %A)" tauB edge how eligible
printfn "P_A(%.1f) = %.5f (%.17g)\tP_B(%.1f) = %.5f (%.17g)" tauA pA pA tauB pB pB
printfn "selected: %s" (if pB < pA then "B (9,000 iterations): judge it once on seed 0's test split" else "A (3,000 iterations): no seed-0 number of B; nothing changes")
printfn "\ntotal: wall %.0f s, process CPU %.0f s" sw.Elapsed.TotalSeconds (cpu ())
