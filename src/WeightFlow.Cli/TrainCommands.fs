/// `weightflow train`: a flow on a zoo, under a progress bar; Ctrl-C saves the checkpoint and stops.
module WeightFlow.Cli.TrainCommands

open System
open System.IO
open System.Threading
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let private flowKind (a: FlowArg) : FlowKind = match a with FlowArg.Euclidean -> FlowKind.Euclidean | FlowArg.Normalized -> FlowKind.Normalized | FlowArg.Geometric -> FlowKind.Geometric

let private coupling (a: CouplingArg) : Coupling =
    match a with
    | CouplingArg.Independent -> Coupling.Independent
    | CouplingArg.Ot -> Coupling.MinibatchOt
    | CouplingArg.Symmetry -> Coupling.SymmetryAware
    | CouplingArg.Symmetry_Ot -> Coupling.SymmetryAwareOt

let private modelKind (a: ModelArg) = match a with ModelArg.Rt -> VelocityKind.Rt | ModelArg.Pna -> VelocityKind.Pna | ModelArg.Mlp -> VelocityKind.Mlp

let train (args: ParseResults<TrainArgs>) : int =
    let json = args.Contains TrainArgs.Json
    let zooPath = args.GetResult TrainArgs.Zoo
    let flowArg = args.GetResult(TrainArgs.Flow, FlowArg.Geometric)
    let modelArg = args.GetResult(TrainArgs.Model, ModelArg.Rt)
    let kind = modelKind modelArg
    let flow : FlowKind = flowKind flowArg
    let out = args.GetResult(TrainArgs.Out, $"flow-{FlowKind.text flow}-{VelocityKind.text kind}.safetensors")
    let checkpoint = out + ".checkpoint"
    let preset =
        match args.GetResult(TrainArgs.Preset, PresetArg.Cpu) with
        | PresetArg.Cpu -> TrainingConfig.cpu flow kind
        | PresetArg.Thesis -> TrainingConfig.thesis flow kind
    let width, layers = VelocityConfig.size preset.Model
    let config =
        { preset with
            Coupling = (match args.TryGetResult TrainArgs.Coupling with Some c -> coupling c | None -> preset.Coupling)
            Model = VelocityConfig.defaults kind (args.GetResult(TrainArgs.Width, width)) (args.GetResult(TrainArgs.Layers, layers))
            Iterations = args.GetResult(TrainArgs.Iterations, preset.Iterations)
            BatchSize = args.GetResult(TrainArgs.Batch, preset.BatchSize)
            LearningRate = args.GetResult(TrainArgs.Learning_Rate, preset.LearningRate)
            Prediction =
                match args.TryGetResult TrainArgs.Prediction with
                | Some PredictionArg.Endpoint -> Prediction.Endpoint
                | Some PredictionArg.Velocity -> Prediction.Velocity
                | Some PredictionArg.Endpoint_Via_Velocity -> Prediction.EndpointViaVelocity
                | None -> preset.Prediction
            Preconditioning =
                match args.TryGetResult TrainArgs.Preconditioning with
                | Some s -> parseOption "preconditioning" "plain, input, edm or edm-weighted" PreconditioningKind.parse s
                | None -> preset.Preconditioning
            Time = (match args.TryGetResult TrainArgs.Time with Some s -> parseOption "time" "beta(a,b) or uniform" TimeDistribution.parse s | None -> preset.Time)
            Sigma = args.GetResult(TrainArgs.Sigma, preset.Sigma)
            EmaDecay = args.GetResult(TrainArgs.Ema, preset.EmaDecay)
            Prior =
                let prior = { preset.Prior with Std = args.GetResult(TrainArgs.Prior_Std, preset.Prior.Std) }
                match args.TryGetResult TrainArgs.Prior with
                | Some PriorArg.Origin -> { prior with Centre = PriorCentre.Origin }
                | Some PriorArg.Fitted -> { prior with Centre = PriorCentre.FitToTargets false }
                | Some PriorArg.Standardized -> { prior with Centre = PriorCentre.FitToTargets true }
                | Some PriorArg.Full -> { prior with Centre = PriorCentre.FitFullToTargets { Standardized = false; Rank = Prior.defaultRank; LinearSkip = false } }
                | Some PriorArg.Standardized_Full -> { prior with Centre = PriorCentre.FitFullToTargets { Standardized = true; Rank = Prior.defaultRank; LinearSkip = false } }
                | None -> prior
            Seed = int64 (args.GetResult(TrainArgs.Seed, 0)) }
    if File.Exists checkpoint && not (args.Contains TrainArgs.Resume) then
        Check.dataError $"{checkpoint} exists (an interrupted run). Pass --resume to continue it, or delete it to start afresh."
    if args.Contains TrainArgs.Resume && not (File.Exists checkpoint) then
        Render.note $"no checkpoint at {checkpoint}; starting afresh"
    let device = Engine.device (args.GetResult(TrainArgs.Device, "cpu"))
    let zoo = Zoo.load zooPath
    let split = Holdout.lastRuns (args.GetResult(TrainArgs.Hold_Out, 10)) zoo
    use targets = split.Train.``to``(device)
    use cts = new CancellationTokenSource()
    let onCancel = ConsoleCancelEventHandler(fun _ e -> e.Cancel <- true; cts.Cancel())
    Console.CancelKeyPress.AddHandler onCancel
    let label = $"{FlowKind.text flow} {VelocityKind.text kind} {Coupling.text config.Coupling}"
    let cpu0 = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime
    let result =
        try
            Render.progress json label config.Iterations (fun report ->
                Training.train config zoo.Layout targets (Some checkpoint)
                    (fun p -> report p.Step $"loss {p.Loss:F4} {p.IterationsPerSecond:F1} it/s") cts.Token)
        finally Console.CancelKeyPress.RemoveHandler onCancel
    match result.Outcome with
    | Cancelled step ->
        Render.error $"cancelled after step {step}; the checkpoint {checkpoint} holds it: rerun with --resume to continue."
        130
    | Diverged step ->
        Render.error $"the loss or a gradient at step {step} is not finite; training stopped. The last good checkpoint is {checkpoint} (if one was written); lower the learning rate (--lr) or enable clipping."
        5
    | Completed ->
        Flow.saveWith out (Targets.metadata split @ TrainingConfig.toMetadata config) result.Flow
        File.Delete checkpoint
        // CPU seconds of the process during training: on a shared machine the honest measure of the work (wall time
        // includes waiting for cores); with one thread it is what a dedicated core would take.
        let cpuSeconds = (Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds
        let tail = result.Losses |> Array.skip (max 0 (result.Losses.Length - 50))
        let finalLoss = Array.average tail
        let parameters = VelocityModel.parameterCount result.Flow.Model
        // the loss per t bucket of the trained (EMA) flow beside predicting the zoo mean, on the training targets
        let byTime =
            let space = result.Flow.Space
            use inSpace = Scope.noGrad (fun () -> FlowSpace.embed space targets)
            LossByTime.evaluate space result.Flow.Prior config.Coupling config.BatchSize 5 512 1L inSpace
                [ Flow.predict result.Flow; LossByTime.zooMean space inSpace ]
        let bucketText (xs: float[]) = xs |> Array.map (sprintf "%.4g") |> String.concat " | "
        if json then
            Render.json (dict [ "file", box out; "flow", box (FlowKind.text flow); "model", box (VelocityKind.text kind)
                                "parameters", box parameters; "coupling", box (Coupling.text config.Coupling)
                                "preconditioning", box (PreconditioningKind.text config.Preconditioning)
                                "iterations", box config.Iterations; "batch", box config.BatchSize
                                "train_checkpoints", box split.Train.shape[0]; "held_out_runs", box split.HeldOutRuns
                                "final_loss", box finalLoss; "seconds", box result.Seconds; "cpu_seconds", box cpuSeconds
                                "threads", box (TorchSharp.torch.get_num_threads ())
                                "iterations_per_second", box (float config.Iterations / result.Seconds)
                                "loss_by_t_bucket", box byTime[0]; "zoo_mean_loss_by_t_bucket", box byTime[1] ])
        else
            Render.table $"Flow written to {out}" [ "what"; "value" ]
                [ [ "flow"; FlowKind.text flow ]
                  [ "model"; $"{VelocityKind.text kind} ({parameters} parameters)" ]
                  [ "coupling"; Coupling.text config.Coupling ]
                  [ "preconditioning"; PreconditioningKind.text config.Preconditioning ]
                  [ "iterations x batch"; $"{config.Iterations} x {config.BatchSize}" ]
                  [ "training targets"; $"{split.Train.shape[0]} checkpoints of {split.TrainRuns.Length} runs ({split.HeldOutRuns.Length} runs held out)" ]
                  [ $"final loss (mean of the last {tail.Length} steps)"; $"%.5f{finalLoss}" ]
                  [ "training time"; $"%.1f{result.Seconds} s wall, %.1f{cpuSeconds} s CPU ({TorchSharp.torch.get_num_threads ()} threads)" ]
                  [ "loss by t bucket [0,.2) .. [.8,1], flow (EMA)"; bucketText byTime[0] ]
                  [ "loss by t bucket, predicting the zoo mean"; bucketText byTime[1] ] ]
        0
