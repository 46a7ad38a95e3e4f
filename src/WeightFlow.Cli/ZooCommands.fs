/// `weightflow run`, `weightflow zoo`, `weightflow info`, `weightflow bench zoo`.
module WeightFlow.Cli.ZooCommands

open System
open System.Diagnostics
open System.IO
open System.Threading
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

/// Where the training state of a zoo being written to `out` lives until the zoo is saved.
let statePathFor (out: string) = out + ".training-state"

/// Trains a zoo under a progress bar. The training state is saved next to `out` (after an epoch, at most every 30 s),
/// so a killed run resumes where it stopped when the same command is run again.
let trainWithProgress (quiet: bool) (out: string) (config: ZooConfig) (task: Task) (data: Dataset) : Zoo * TimeSpan =
    // before perEpoch divides by the batch size (--batch-size 0 was a DivideByZeroException, exit 70)
    ZooConfig.validate config
    let perEpoch = (Dataset.count data.Train + config.BatchSize - 1) / config.BatchSize
    let state = statePathFor out
    if File.Exists state then Render.note $"resuming from the training state in {state}"
    let sw = Stopwatch.StartNew()
    let zoo =
        Render.progress quiet $"zoo {Task.name task} {config.Layout} x{config.Runs}" (perEpoch * config.Epochs) (fun report ->
            Zoo.trainResumable { Path = state; MinInterval = TimeSpan.FromSeconds 30.0 } config task data
                (fun p -> if p.Iteration % 10 = 0 || p.Iteration = p.Total then report p.Iteration $"epoch {p.Epoch + 1} loss {p.Loss:F3}")
                CancellationToken.None)
    zoo, sw.Elapsed

let summaryRows (zoo: Zoo) (elapsed: TimeSpan option) =
    let s = ZooSummary.ofZoo zoo
    [ [ "task"; Task.name zoo.Task ]
      [ "layout"; $"{zoo.Layout} ({Layout.paramCount zoo.Layout} parameters)" ]
      [ "optimizer"; (match zoo.Config.Optimizer with
                      | Adam a -> $"Adam lr {a.LearningRate}"
                      | Sgd g -> $"SGD lr {g.LearningRate}, momentum {g.Momentum}, wd {g.WeightDecay}") ]
      [ "runs"; string s.Runs ]
      [ "epochs (dropped)"; $"{zoo.Config.Epochs} ({zoo.Config.DropEpochs})" ]
      [ "checkpoints"; $"{s.Checkpoints} (every {zoo.Config.Every} iterations)" ]
      [ "final test accuracy"; Render.pm s.FinalAccuracyMean s.FinalAccuracyStd ]
      [ "final test loss"; Render.pm s.FinalLossMean s.FinalLossStd ]
      [ "all checkpoints' test accuracy"; Render.pm s.AllAccuracyMean s.AllAccuracyStd ] ]
    @ (match elapsed with Some e -> [ [ "training time"; $"{e.TotalSeconds:F1} s" ] ] | None -> [])

let summaryJson (zoo: Zoo) (elapsed: TimeSpan option) (extra: (string * obj) list) =
    let s = ZooSummary.ofZoo zoo
    dict ([ "task", box (Task.name zoo.Task); "layout", box (string zoo.Layout); "runs", box s.Runs; "checkpoints", box s.Checkpoints
            "final_test_accuracy_mean", box s.FinalAccuracyMean; "final_test_accuracy_std", box s.FinalAccuracyStd
            "final_test_loss_mean", box s.FinalLossMean; "final_test_loss_std", box s.FinalLossStd ]
          @ (match elapsed with Some e -> [ "seconds", box e.TotalSeconds ] | None -> [])
          @ extra)

let plotZoo (path: string) (zoo: Zoo) =
    let t = ZooSummary.trajectory zoo
    Plots.zooTrajectory path $"{Task.name zoo.Task} zoo: {ZooSummary.ofZoo zoo |> fun s -> s.Runs} runs of a {zoo.Layout} MLP"
        (t.Steps |> Array.map float) t.AccuracyMean t.AccuracyStd

let zoo (args: ParseResults<ZooArgs>) : int =
    let task = Task.parse (args.GetResult ZooArgs.Task)
    let seed = int64 (args.GetResult(ZooArgs.Seed, 0))
    let json = args.Contains ZooArgs.Json
    let device = Engine.device (args.GetResult(ZooArgs.Device, "cpu"))
    let out = args.GetResult(ZooArgs.Out, $"zoo-{Task.fileStem task}.safetensors")
    let data = Sources.load task seed |> Dataset.toDevice device
    let preset = ZooConfig.forTask task data
    let config =
        { preset with
            Layout = args.TryGetResult ZooArgs.Layout |> Option.map Layout.parse |> Option.defaultValue preset.Layout
            Runs = args.GetResult(ZooArgs.Runs, preset.Runs)
            Epochs = args.GetResult(ZooArgs.Epochs, preset.Epochs)
            BatchSize = args.GetResult(ZooArgs.Batch_Size, preset.BatchSize)
            Optimizer =
                match args.TryGetResult ZooArgs.Learning_Rate, preset.Optimizer with
                | Some lr, Sgd s -> Sgd { s with LearningRate = lr }
                | Some lr, Adam a -> Adam { a with LearningRate = lr }
                | None, o -> o
            DropEpochs = min preset.DropEpochs (args.GetResult(ZooArgs.Epochs, preset.Epochs) - 1)
            Seed = seed }
    let z, elapsed = trainWithProgress json out config task data
    Zoo.save out z
    let png = Path.ChangeExtension(out, ".png")
    plotZoo png z
    if json then Render.json (summaryJson z (Some elapsed) [ "file", box out; "plot", box png ])
    else
        Render.table $"Zoo written to {out}" [ "what"; "value" ] (summaryRows z (Some elapsed) @ [ [ "plot"; png ] ])
    0

let info (args: ParseResults<InfoArgs>) : int =
    let path = args.GetResult InfoArgs.File
    let z = Zoo.load path
    if args.Contains InfoArgs.Json then Render.json (summaryJson z None [ "file", box path ])
    else Render.table path [ "what"; "value" ] (summaryRows z None)
    0

/// Batched zoo training (one model over all runs) against the same runs trained one network at a time.
let bench (args: ParseResults<BenchTargetArgs>) : int =
    let json = args.Contains BenchTargetArgs.Json
    let quick = args.Contains BenchTargetArgs.Quick
    let data = Sources.load Task.Uci 0L
    let config = if quick then { ZooConfig.uci with Runs = 10; Epochs = 12 } else ZooConfig.uci
    let time f =
        let sw = Stopwatch.StartNew()
        let r = f ()
        r, sw.Elapsed.TotalSeconds
    // Warm-up: the first libtorch calls pay one-off initialisation costs.
    Zoo.train { config with Runs = 2; Epochs = 11 } Task.Uci data ignore CancellationToken.None |> ignore
    let batched, tb = time (fun () -> Zoo.train config Task.Uci data ignore CancellationToken.None)
    let single, ts =
        time (fun () -> Zoo.concat [ for r in 0 .. config.Runs - 1 -> Zoo.trainRuns config Task.Uci data [| r |] ignore CancellationToken.None ])
    let sb, ss = ZooSummary.ofZoo batched, ZooSummary.ofZoo single
    let threads = torch.get_num_threads ()
    if json then
        Render.json (dict [ "runs", box config.Runs; "epochs", box config.Epochs; "threads", box threads
                            "batched_seconds", box tb; "one_at_a_time_seconds", box ts; "speedup", box (ts / tb)
                            "batched_final_accuracy", box sb.FinalAccuracyMean; "one_at_a_time_final_accuracy", box ss.FinalAccuracyMean ])
    else
        Render.table $"UCI zoo: {config.Runs} runs x {config.Epochs} epochs, {threads} threads" [ "training"; "seconds"; "final test accuracy" ]
            [ [ "batched (one model over all runs)"; $"%.2f{tb}"; Render.pm sb.FinalAccuracyMean sb.FinalAccuracyStd ]
              [ "one network at a time"; $"%.2f{ts}"; Render.pm ss.FinalAccuracyMean ss.FinalAccuracyStd ]
              [ "speed-up"; $"%.1f{ts / tb}x"; "" ] ]
    0
