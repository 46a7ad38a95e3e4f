// Accuracy against novelty ratio over training time for the flows of `reproduce mnist --preset full` (issue 13's
// Done-when asks for every flow's curve over training time as well as over sampling noise; the reproduction itself
// keeps only the final flows). The flows' training checkpoints are saved every 250 steps (TrainingConfig.cpu) and
// deleted when a flow finishes, so they were copied as they appeared into SNAPSHOTS as `<checkpoint name>.<k>` (k-th
// save: step 250·k). Each snapshot is restored (Training.train with a cancelled token restores the EMA flow and
// returns at once), sampled like the reproduction's noise sweep at ε 0, τ 1 (SAMPLES [8] networks, 100 Euler steps,
// seed + 7: the same prior draws at every step, so a curve shows training, not new noise) and judged against the same
// held-out runs; step 0 is the flow's prior alone, the last point the finished flow. Writes
// docs/mnist/full-training.csv and docs/mnist/full-accuracy-vs-novelty-training.png.
//
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/mnist-full-training.fsx
// Settings by environment: OUT [results/reproduce-mnist], SNAPSHOTS [results/ckpt-snapshots], SAMPLES [8].
#load "_load.fsx"
open _load
open System
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let root = Path.Combine(__SOURCE_DIRECTORY__, "..")
let outDir = Path.GetFullPath(env "OUT" (Path.Combine(root, "results/reproduce-mnist")))
let snapshots = Path.GetFullPath(env "SNAPSHOTS" (Path.Combine(root, "results/ckpt-snapshots")))
let samples = int (env "SAMPLES" "8")
let r = ReproduceMnist.config Full 0L outDir
let c = r.Job
let aligned = Zoo.load (Path.Combine(outDir, "zoo-mnist-aligned.safetensors"))
let data = Sources.load c.Task c.Zoo.Seed
let split = Holdout.lastRuns c.HeldOutRuns aligned
let ctx, _, pool = Scope.noGrad (fun () -> Evaluation.ofHoldout { c.Evaluation with BmaK = min c.Evaluation.BmaK samples } id data aligned split)
pool.Dispose()
let proc = Diagnostics.Process.GetCurrentProcess()
let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
let inv (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
let opt (x: float option) = x |> Option.map inv |> Option.defaultValue ""
let rows = Collections.Generic.List<string list>()
let points = Collections.Generic.List<string * int * float * float>()
let judge (name: string) (step: int) (theta: Tensor) =
    let row = Evaluation.evaluate ctx name theta
    theta.Dispose()
    printfn "%s\tstep %d\tacc %.4f (min %.4f)\tBMA%d %.4f\tdiversity %s\tnovelty %s\tMMD² %s (%s)\t%.0f CPU s" name step row.AccuracyMean
        row.AccuracyMin row.Bma.K row.Bma.Accuracy (opt row.Diversity) (opt row.NoveltyRatio) (opt row.Fidelity) (opt row.FidelityFloor) (cpu ())
    Console.Out.Flush()
    rows.Add [ name; string step; inv row.AccuracyMean; inv row.AccuracyMin; inv row.Bma.Accuracy; opt row.Diversity; opt row.NoveltyRatio
               opt row.Fidelity; opt row.FidelityFloor ]
    row.NoveltyRatio |> Option.iter (fun n -> points.Add((name, step, n, row.AccuracyMean)))
let sampleOf (flow: Flow) =
    let s = Scope.noGrad (fun () -> Sampling.sample { SamplingConfig.defaults samples with Steps = c.Sampling.Steps; Seed = c.Seed + 7L } ignore torch.CPU flow)
    s.Theta
for f in c.Flows do
    let path = MainJob.flowPath c f
    let final = Flow.load torch.CPU path
    // step 0: the prior's own draws (the same generator seed as the sampler's first draw)
    (use gen = Scope.Rng.create (c.Seed + 7L)
     judge f.Name 0 (Scope.noGrad (fun () -> Prior.sample final.Prior final.Space gen torch.CPU samples)))
    // the control at the reduced temperature of the noise sweep: the prior alone at τ (x0 = c + τ·(x0 − c)), no
    // training (a CSV row "<flow> prior τ …" at step 0, not on the plot)
    for tau in r.Temperatures |> List.filter (fun t -> t <> 1.0) do
        use gen = Scope.Rng.create (c.Seed + 7L)
        let name = $"{f.Name} prior τ {tau}"
        let theta = Scope.noGrad (fun () -> Prior.sampleTempered tau final.Prior final.Space gen torch.CPU samples)
        let row = Evaluation.evaluate ctx name theta
        theta.Dispose()
        printfn "%s\tacc %.4f (min %.4f)\tBMA%d %.4f\tnovelty %s\tMMD² %s" name row.AccuracyMean row.AccuracyMin row.Bma.K row.Bma.Accuracy (opt row.NoveltyRatio) (opt row.Fidelity)
        rows.Add [ name; "0"; inv row.AccuracyMean; inv row.AccuracyMin; inv row.Bma.Accuracy; opt row.Diversity; opt row.NoveltyRatio
                   opt row.Fidelity; opt row.FidelityFloor ]
    let prefix = Path.GetFileName path + "."
    let snaps =
        Directory.GetFiles snapshots
        |> Array.filter (fun p ->
            Path.GetFileName(p).StartsWith prefix && Path.GetFileName(p).Contains ".checkpoint."
            && fst (Int32.TryParse(Path.GetExtension(p).TrimStart '.')))
        |> Array.sortBy (fun p -> int (Path.GetExtension(p).TrimStart '.'))
    for snap in snaps do
        use cts = new CancellationTokenSource()
        cts.Cancel()
        let train = split.Train.clone()
        let res = Training.train f.Training aligned.Layout train (Some snap) ignore cts.Token
        train.Dispose()
        let step = int (Path.GetExtension(snap).TrimStart '.') * f.Training.CheckpointEvery
        if step < f.Training.Iterations then judge f.Name res.Losses.Length (sampleOf res.Flow)
    judge f.Name f.Training.Iterations (sampleOf final)
Report.writeText (Path.Combine(root, "docs/mnist/full-training.csv"))
    (Report.csv [ "flow"; "step"; "acc_mean"; "acc_min"; $"bma{min c.Evaluation.BmaK samples}"; "diversity"; "novelty_ratio"; "mmd2"; "mmd2_floor" ] (List.ofSeq rows))
Figures.lines (Path.Combine(root, "docs/mnist/full-accuracy-vs-novelty-training.png"))
    "reproduce mnist --preset full: accuracy against novelty ratio over training steps" "novelty ratio (1: as new as a held-out run)"
    "mean test accuracy of the samples"
    [ for name, ps in points |> Seq.toList |> List.groupBy (fun (n, _, _, _) -> n) ->
        let ps = ps |> List.sortBy (fun (_, s, _, _) -> s)
        $"""{name} (steps {ps |> List.map (fun (_, s, _, _) -> string s) |> String.concat ", "})""",
        ps |> List.map (fun (_, _, n, _) -> n) |> Array.ofList, ps |> List.map (fun (_, _, _, a) -> a) |> Array.ofList ]
    [ ("issue 13 bar (single sample) 0.75", 0.75) ]
printfn "wrote docs/mnist/full-training.csv and docs/mnist/full-accuracy-vs-novelty-training.png (%.0f CPU s)" (cpu ())
