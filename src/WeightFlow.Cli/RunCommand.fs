/// `weightflow run`: renders the main job (Pipeline/MainJob.fs): the zoo, its alignment to one reference by weight
/// matching, loss barriers before and after (thesis §7.2, Fig. 7.2), the three flows and the MLP-velocity baseline,
/// their samples and one quality table per space with the baselines beside them; the core writes report.md.
module WeightFlow.Cli.RunCommand

open System
open System.Diagnostics
open System.IO
open System.Threading
open Argu
open WeightFlow
open WeightFlow.Cli.Args

/// A quality table, one line per set of networks.
let qualityTable (title: string) (rows: Evaluation.Row list) =
    Render.table title Report.qualityHeader (rows |> List.map Report.qualityCells)

let run (args: ParseResults<RunArgs>) : int =
    let seed = int64 (args.GetResult(RunArgs.Seed, 0))
    let json = args.Contains RunArgs.Json
    let task = Task.parse (args.GetResult(RunArgs.Task, "uci"))
    let preset = MainJobConfig.parsePreset (args.GetResult(RunArgs.Preset, "quick"))
    let config = MainJobConfig.forTask task preset seed (args.GetResult(RunArgs.Out, Path.Combine("results", "run")))
    let config =
        match args.TryGetResult RunArgs.Iterations with
        | Some n -> MainJobConfig.withIterations n config
        | None -> config
    let config =
        { config with
            FlowThreads = (match args.TryGetResult RunArgs.Flow_Threads with Some n -> Some n | None -> config.FlowThreads)
            ParallelFlows = args.GetResult(RunArgs.Parallel_Flows, config.ParallelFlows) }
    let config =
        match args.TryGetResult RunArgs.Samples with
        | Some n -> MainJobConfig.withSamples n config
        | None -> config
    let config =
        match args.TryGetResult RunArgs.Temperature with
        | Some tau -> MainJobConfig.withTemperature tau config
        | None -> config
    let config =
        match args.TryGetResult RunArgs.Fidelity with
        | Some name -> { config with Evaluation = { config.Evaluation with Fidelity = Fidelity.Kind.parse name } }
        | None -> config
    let zooPath = MainJob.zooPath config
    if File.Exists(zooPath + ".training-state") then Render.note $"resuming from the training state in {zooPath}.training-state"
    use cts = new CancellationTokenSource()
    let onCancel = ConsoleCancelEventHandler(fun _ e -> e.Cancel <- true; cts.Cancel())
    Console.CancelKeyPress.AddHandler onCancel
    let sw = Stopwatch.StartNew()
    let r =
        try
            Render.jobProgress json (fun progress -> MainJob.run config progress cts.Token)
        finally Console.CancelKeyPress.RemoveHandler onCancel
    let wall = sw.Elapsed.TotalSeconds
    for stage in r.Reused do Render.note $"reused the {MainJob.stageName stage} output of an earlier run in {config.OutDir} (delete stages.json to recompute)"
    let trajectoryPng = Path.Combine(config.OutDir, $"zoo-{Task.fileStem config.Task}.png")
    ZooCommands.plotZoo trajectoryPng r.Zoo
    let before, after = Barrier.summarize r.Before, Barrier.summarize r.After
    let s = ZooSummary.ofZoo r.Zoo
    let elapsed = r.TrainingSeconds |> Option.map TimeSpan.FromSeconds
    let alignSeconds = defaultArg r.AlignSeconds 0.0
    let midB, midA = before.Midpoint, after.Midpoint
    let relB, relA = before.Relative, after.Relative
    let figures = trajectoryPng :: r.Figures
    if json then
        Render.json (
            ZooCommands.summaryJson r.Zoo elapsed
                [ "preset", box config.Preset; "wall_seconds", box wall; "align_seconds", box alignSeconds
                  "barrier_midpoint_unaligned", box (fst midB); "barrier_midpoint_aligned", box (fst midA)
                  "barrier_relative_unaligned", box (fst relB); "barrier_relative_aligned", box (fst relA)
                  "zoo", box r.ZooPath; "aligned_zoo", box r.AlignedPath
                  "flows", box [| for f in r.Flows ->
                                    dict [ "name", box f.Name; "flow", box (FlowKind.text f.Kind); "model", box (VelocityKind.text f.Model)
                                           "iterations", box f.Iterations; "batch", box f.BatchSize; "file", box f.Path
                                           "training_seconds", box (Option.toNullable f.TrainingSeconds); "final_loss", box f.FinalLoss
                                           "samples", box f.SamplesPath; "sampling_seconds", box (Option.toNullable f.SamplingSeconds)
                                           "temperature", box f.Temperature; "non_finite", box f.NonFinite ] |]
                  "tables", box [| for t in r.Tables -> dict [ "space", box t.Space; "flows", box t.Flows; "baselines", box t.Baselines ] |]
                  "report", box r.ReportPath; "plots", box figures ])
    else
        Render.table $"{Task.name config.Task} zoo" [ "what"; "value" ]
            (ZooCommands.summaryRows r.Zoo elapsed @ [ [ "zoo file"; r.ZooPath ]; [ "plot"; trajectoryPng ] ])
        let alignTime = match r.AlignSeconds with Some t -> $"{t:F1} s" | None -> "reused"
        Render.table $"Re-basin ({ZooAlignment.name config.Alignment} to checkpoint 0, {alignTime}) and loss barriers, {config.Pairs} random pairs"
            [ "training-split cross-entropy"; "unaligned"; "aligned"; "thesis Fig. 7.2 (unaligned → aligned)" ]
            [ [ "midpoint loss L(½)"; Render.pm (fst midB) (snd midB); Render.pm (fst midA) (snd midA); "0.244 ± 0.009 → 0.070 ± 0.001" ]
              [ "relative barrier"; Render.pm (fst relB) (snd relB); Render.pm (fst relA) (snd relA); "" ]
              [ "reduction"; ""; $"%.1f{fst relB / fst relA}x (relative), %.1f{fst midB / fst midA}x (midpoint)"; "3.5x (midpoint)" ] ]
        if not r.Flows.IsEmpty then
            let secs (s: float option) = match s with Some t -> $"%.1f{t} s" | None -> "reused"
            Render.table "Flows (trained without the held-out runs)" [ "flow"; "model"; "iterations x batch"; "final loss"; "training"; "sampling"; "τ"; "non-finite" ]
                [ for f in r.Flows ->
                    [ f.Name; $"{FlowKind.text f.Kind}, {VelocityKind.text f.Model}"; $"{f.Iterations} x {f.BatchSize}"; Report.f4 f.FinalLoss
                      secs f.TrainingSeconds; secs f.SamplingSeconds; f.Temperature.ToString(Globalization.CultureInfo.InvariantCulture); string f.NonFinite ] ]
        for t in r.Tables do
            qualityTable $"Samples and baselines, {t.Space} space (test split; calibration on {Calibration.describe config.Evaluation.Calibration})" (t.Flows @ t.Baselines)
        Render.table "Against the thesis (Table 7.1, target row)" [ "what"; "this run"; "thesis" ]
            [ [ "zoo test accuracy, final checkpoints"; Render.pm s.FinalAccuracyMean s.FinalAccuracyStd; "0.992 ± 0.010 (Adam)" ] ]
        let figureList = String.Join(", ", figures)
        Render.note $"report: {r.ReportPath}; figures: {figureList}; wall time {wall:F1} s"
    0
