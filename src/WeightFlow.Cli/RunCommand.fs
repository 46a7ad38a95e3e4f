/// `weightflow run`: renders the main job (Pipeline/MainJob.fs) on the embedded UCI data set: the zoo, its alignment
/// to one reference by weight matching, and loss barriers before and after (thesis §7.2, Fig. 7.2).
module WeightFlow.Cli.RunCommand

open System.IO
open System.Threading
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let run (args: ParseResults<RunArgs>) : int =
    let seed = int64 (args.GetResult(RunArgs.Seed, 0))
    let json = args.Contains RunArgs.Json
    let config = MainJobConfig.uci seed (args.GetResult(RunArgs.Out, Path.Combine("results", "run")))
    let zooPath = MainJob.zooPath config
    if File.Exists(zooPath + ".training-state") then Render.note $"resuming from the training state in {zooPath}.training-state"
    let r =
        Render.stagedProgress json (fun report ->
            MainJob.run config (fun p ->
                // the zoo reports every iteration; the bar moves every 10
                if p.Stage <> TrainZoo || p.Done % 10 = 0 || p.Done = p.Total then report p.Label p.Done p.Total p.Message)
                CancellationToken.None)
    for stage in r.Reused do Render.note $"reused the {stage} output of an earlier run in {config.OutDir} (delete stages.json to recompute)"
    let trajectoryPng = Path.Combine(config.OutDir, $"zoo-{Task.fileStem config.Task}.png")
    ZooCommands.plotZoo trajectoryPng r.Zoo
    let before, after = Barrier.summarize r.Before, Barrier.summarize r.After
    let barrierPng = Path.Combine(config.OutDir, $"barriers-{Task.fileStem config.Task}.png")
    Plots.histogram barrierPng $"UCI: midpoint loss barriers of {config.Pairs} random checkpoint pairs" "relative barrier L(½) − (L(0)+L(1))/2"
        [ "unaligned", T.toArray64 r.Before.Relative; "aligned (weight matching)", T.toArray64 r.After.Relative ] 30
    let s = ZooSummary.ofZoo r.Zoo
    let elapsed = r.TrainingSeconds |> Option.map System.TimeSpan.FromSeconds
    let alignSeconds = defaultArg r.AlignSeconds 0.0
    let midB, midA = before.Midpoint, after.Midpoint
    let relB, relA = before.Relative, after.Relative
    if json then
        Render.json (
            ZooCommands.summaryJson r.Zoo elapsed
                [ "align_seconds", box alignSeconds
                  "barrier_midpoint_unaligned", box (fst midB); "barrier_midpoint_aligned", box (fst midA)
                  "barrier_relative_unaligned", box (fst relB); "barrier_relative_aligned", box (fst relA)
                  "zoo", box r.ZooPath; "aligned_zoo", box r.AlignedPath; "plots", box [| trajectoryPng; barrierPng |] ])
    else
        Render.table "UCI breast cancer zoo (thesis §7.2 settings)" [ "what"; "value" ]
            (ZooCommands.summaryRows r.Zoo elapsed @ [ [ "zoo file"; r.ZooPath ]; [ "plot"; trajectoryPng ] ])
        let alignTime = match r.AlignSeconds with Some t -> $"{t:F1} s" | None -> "reused"
        Render.table $"Re-basin (weight matching to checkpoint 0, {alignTime}) and loss barriers, {config.Pairs} random pairs"
            [ "training-split cross-entropy"; "unaligned"; "aligned"; "thesis Fig. 7.2 (unaligned → aligned)" ]
            [ [ "midpoint loss L(½)"; Render.pm (fst midB) (snd midB); Render.pm (fst midA) (snd midA); "0.244 ± 0.009 → 0.070 ± 0.001" ]
              [ "relative barrier"; Render.pm (fst relB) (snd relB); Render.pm (fst relA) (snd relA); "" ]
              [ "reduction"; ""; $"%.1f{fst relB / fst relA}x (relative), %.1f{fst midB / fst midA}x (midpoint)"; "3.5x (midpoint)" ] ]
        Render.table "Against the thesis (Table 7.1, target row)" [ "what"; "this run"; "thesis" ]
            [ [ "zoo test accuracy, final checkpoints"; Render.pm s.FinalAccuracyMean s.FinalAccuracyStd; "0.992 ± 0.010 (Adam)" ]
              [ "figures"; $"{trajectoryPng}, {barrierPng}"; "" ] ]
    0
