/// `weightflow reproduce NAME`: renders the reproductions (Pipeline/Reproduce.fs); the core writes the markdown
/// table with the thesis' numbers beside ours, the CSV and the figures.
module WeightFlow.Cli.ReproduceCommand

open System
open System.Diagnostics
open System.IO
open System.Threading
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let reproduce (args: ParseResults<ReproduceArgs>) : int =
    let name = (args.GetResult ReproduceArgs.Name).Trim().ToLowerInvariant()
    let json = args.Contains ReproduceArgs.Json
    let seed = int64 (args.GetResult(ReproduceArgs.Seed, 0))
    let preset = MainJobConfig.parsePreset (args.GetResult(ReproduceArgs.Preset, "quick"))
    let out = args.GetResult(ReproduceArgs.Out, Path.Combine("results", $"reproduce-{name}"))
    use cts = new CancellationTokenSource()
    let onCancel = ConsoleCancelEventHandler(fun _ e -> e.Cancel <- true; cts.Cancel())
    Console.CancelKeyPress.AddHandler onCancel
    let sw = Stopwatch.StartNew()
    try
        if args.Contains ReproduceArgs.Rows && name <> "uci" then
            invalidArg "rows" $"--rows applies to `reproduce uci` only; `reproduce {name}` has no row selection."
        if args.Contains ReproduceArgs.Temperature && name <> "uci" then
            invalidArg "temperature" $"--temperature applies to `reproduce uci` only; `reproduce {name}` samples as its preset says."
        if args.Contains ReproduceArgs.Euclidean_Prior && name <> "uci" then
            invalidArg "euclidean-prior" $"--euclidean-prior applies to `reproduce uci` only; `reproduce {name}` has no Euclidean RT rows to choose a prior for."
        for option, present in [ "euclidean-lr", args.Contains ReproduceArgs.Euclidean_Lr; "euclidean-iterations", args.Contains ReproduceArgs.Euclidean_Iterations ] do
            if present && name <> "uci" then
                invalidArg option $"--{option} applies to `reproduce uci` only; `reproduce {name}` has no Euclidean RT rows to train."
        if args.Contains ReproduceArgs.Euclidean_Steps && name <> "uci" then
            invalidArg "euclidean-steps" $"--euclidean-steps applies to `reproduce uci` only; `reproduce {name}` has no Euclidean RT rows to sample."
        if args.Contains ReproduceArgs.Parallel_Flows && name <> "uci" then
            invalidArg "parallel-flows" $"--parallel-flows applies to `reproduce uci` only; `reproduce {name}` trains its flows as its preset says."
        if args.Contains ReproduceArgs.Flow && name <> "scaling" then
            invalidArg "flow" $"--flow applies to `reproduce scaling` only; `reproduce {name}` trains the flows its preset names."
        if args.Contains ReproduceArgs.Prior && name <> "scaling" then
            invalidArg "prior" $"--prior applies to `reproduce scaling --flow euclidean` only; `reproduce {name}` trains the flows its preset names."
        if args.Contains ReproduceArgs.Lr_Scaling && name <> "scaling" then
            invalidArg "lr-scaling" $"--lr-scaling applies to `reproduce scaling --flow euclidean` only; `reproduce {name}` trains its flows at its presets' learning rates."
        if args.Contains ReproduceArgs.Time && name <> "gaussians" then
            invalidArg "time" $"--time applies to `reproduce gaussians` only; `reproduce {name}` trains with its presets' time distribution."
        match name with
        | "gaussians" ->
            let c0 = Reproduce.gaussiansConfig preset out
            let time = args.TryGetResult ReproduceArgs.Time |> Option.map (parseOption "time" "beta(a,b) or uniform" TimeDistribution.parse) |> Option.defaultValue c0.Training.Time
            let c = { c0 with Training = { c0.Training with Seed = seed; Time = time } }
            let r =
                Render.stagedProgress json (fun report ->
                    Reproduce.gaussians c (fun label d t -> if d % 10 = 0 || d = t then report label d t "") cts.Token)
            if json then
                Render.json (dict [ "name", box "gaussians"; "preset", box c.Preset
                                    // quick is a CI-sized smoke run, not expected to pass
                                    "smoke_run", box (c.Preset = "quick"); "wall_seconds", box sw.Elapsed.TotalSeconds
                                    "training_seconds", box (Option.toNullable r.TrainingSeconds)
                                    "training_cpu_seconds", box (Option.toNullable r.TrainingCpuSeconds); "passed", box r.Passed
                                    "rows", box r.Rows; "files", box r.Files ])
            else
                Render.table $"Thesis §7.1 (Fig. 7.1): N(0, I) → N(1, I) in the {c.Layout} weight space, preset {c.Preset}"
                    [ "sampling"; "samples"; "mean of coordinate means"; "max |mean − 1|"; "mean of coordinate stds"; "std min–max"; "thesis" ]
                    [ for row in r.Rows ->
                        [ row.Mode; string row.Count; $"%.3f{row.Mean}"; $"%.3f{row.MeanMaxDeviation}"; $"%.3f{row.Std}"; $"%.3f{row.StdMin}–%.3f{row.StdMax}"
                          (c.Modes |> List.tryFind (fun m -> m.Name = row.Mode) |> Option.map (fun m -> m.Thesis) |> Option.defaultValue "") ] ]
                let verdict =
                    if r.Passed then "met"
                    elif c.Preset = "quick" then "NOT met (expected: quick is a smoke run; --preset full reproduces)"
                    else "NOT met"
                let files = String.Join(", ", r.Files)
                let training =
                    match r.TrainingSeconds, r.TrainingCpuSeconds with
                    | Some s, Some cpu -> $"training {s:F1} s wall / {cpu:F1} s CPU; "
                    | _ -> "training read back from an earlier run; "
                Render.note $"done when (every mean within 0.05 of 1, every stochastic std within 20%%): {verdict}; files: {files}; {training}wall {sw.Elapsed.TotalSeconds:F1} s"
            0
        | "uci" ->
            let rows =
                args.TryGetResult ReproduceArgs.Rows
                |> Option.map (fun s -> s.Split(',', StringSplitOptions.RemoveEmptyEntries ||| StringSplitOptions.TrimEntries) |> List.ofArray)
                |> Option.defaultValue []
            let prior =
                args.TryGetResult ReproduceArgs.Euclidean_Prior |> Option.map Reproduce.parseEuclideanPrior
                |> Option.defaultValue Reproduce.uciEuclideanPrior
            let recipe =
                match args.TryGetResult ReproduceArgs.Euclidean_Iterations, args.TryGetResult ReproduceArgs.Euclidean_Lr with
                | None, None -> None
                | n, lr ->
                    if prior <> IsotropicPrior then
                        invalidArg "euclidean-lr" "--euclidean-lr and --euclidean-iterations apply to the isotropic prior's Euclidean RT rows; --euclidean-prior fitted has its own recipe (1,000 iterations, as the canonical rows)."
                    let iterations = Reproduce.uciIterations preset IsotropicPrior FlowKind.Euclidean VelocityKind.Rt
                    Some (Reproduce.euclideanTraining (defaultArg n iterations) (defaultArg lr Reproduce.uciEuclideanTraining.LearningRate))
            let c = Reproduce.uciConfigWith prior preset seed out
            let c = match recipe with Some t -> Reproduce.withEuclideanTraining t c | None -> c
            let c =
                match args.TryGetResult ReproduceArgs.Euclidean_Steps with
                | Some _ when prior <> IsotropicPrior ->
                    invalidArg "euclidean-steps" "--euclidean-steps applies to the isotropic prior's Euclidean RT rows; --euclidean-prior fitted samples its rows with the job's 100 steps."
                | Some n -> Reproduce.withEuclideanSteps n c
                | None -> c
            let c = c |> Reproduce.withRows rows
            let c = match args.TryGetResult ReproduceArgs.Parallel_Flows with Some n -> Reproduce.withParallelFlows n c | None -> c
            let c = match args.TryGetResult ReproduceArgs.Temperature with Some tau -> Reproduce.withTemperature tau c | None -> c
            let r =
                Render.jobProgress json (fun progress -> Reproduce.uci c progress cts.Token)
            if json then
                Render.json (dict [ "name", box "uci"; "preset", box c.Job.Preset; "wall_seconds", box sw.Elapsed.TotalSeconds
                                    "tables", box [| for t in r.Job.Tables -> dict [ "space", box t.Space; "flows", box t.Flows; "baselines", box t.Baselines ] |]
                                    "steps_sweep", box r.Sweep; "sweep_complete", box r.SweepComplete; "files", box r.Files ])
            else
                if not r.SweepComplete then
                    Render.note $"stopped during the Fig. 7.3 sweep after {r.Sweep.Length} points; the same command continues it"
                for t in r.Job.Tables do
                    RunCommand.qualityTable $"Table 7.1 rows, {t.Space} space (thesis numbers: table-7.1.md)" (t.Flows @ t.Baselines)
                let files = String.Join(", ", r.Files)
                Render.note $"files: {files}; wall {sw.Elapsed.TotalSeconds:F1} s"
            0
        | "mnist" ->
            let c = ReproduceMnist.config preset seed out
            let r =
                Render.jobProgress json (fun progress -> ReproduceMnist.run c progress cts.Token)
            if json then
                Render.json (dict [ "name", box "mnist"; "preset", box c.Job.Preset; "wall_seconds", box sw.Elapsed.TotalSeconds
                                    "cpu_seconds", box (Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds)
                                    "tables", box [| for t in r.Job.Tables -> dict [ "space", box t.Space; "flows", box t.Flows; "baselines", box t.Baselines ] |]
                                    "steps_sweep", box r.Sweep; "noise_sweep", box r.NoiseSweep; "files", box r.Files ])
            else
                for t in r.Job.Tables do
                    RunCommand.qualityTable $"Table 7.2 rows, {t.Space} space (thesis numbers: table-7.2.md)" (t.Flows @ t.Baselines)
                let files = String.Join(", ", r.Files)
                Render.note $"files: {files}; wall {sw.Elapsed.TotalSeconds:F1} s, CPU {Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds:F1} s"
            0
        | "fashion-transfer" | "wider" ->
            let c = ReproduceTransfer.config preset seed (args.GetResult(ReproduceArgs.Out, Path.Combine("results", "reproduce-mnist")))
            let run = if name = "wider" then ReproduceTransfer.wider else ReproduceTransfer.fashionTransfer
            let r =
                Render.jobProgress json (fun progress -> run c progress cts.Token)
            let cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
            if json then
                Render.json (dict [ "name", box name; "preset", box c.Mnist.Job.Preset; "wall_seconds", box sw.Elapsed.TotalSeconds
                                    "cpu_seconds", box cpu; "rows", box r.Rows; "adam_curves", box r.Curves; "files", box r.Files ])
            else
                Render.table (if name = "wider" then $"Table 7.4: flows sampled for {c.Wider}" else "Table 7.3: Fashion-MNIST from MNIST flows")
                    [ "flow"; "setting"; "n"; "accuracy mean ± std"; "test CE" ]
                    [ for row in r.Rows -> [ row.Flow; row.Setting; string row.Count; $"%.3f{row.AccuracyMean} ± %.3f{row.AccuracyStd}"; $"%.3f{row.CrossEntropy}" ] ]
                for cv in r.Curves do
                    Render.note $"Fig. 7.6, Adam from {cv.Init}: mean test accuracy %.3f{cv.AccuracyMean[0]} at 0 -> %.3f{Array.last cv.AccuracyMean} at {Array.last cv.Iterations}"
                let files = String.Join(", ", r.Files)
                Render.note $"files: {files}; wall {sw.Elapsed.TotalSeconds:F1} s, CPU {cpu:F1} s"
            0
        | "scaling" ->
            let kind = args.TryGetResult ReproduceArgs.Flow |> Option.map ReproduceScaling.parseFlow |> Option.defaultValue FlowKind.Geometric
            let prior = args.TryGetResult ReproduceArgs.Prior |> Option.map ReproduceScaling.parsePrior |> Option.defaultValue ScalingPrior.FullCovariance
            if args.Contains ReproduceArgs.Prior && kind <> FlowKind.Euclidean then
                invalidArg "prior" $"--prior applies to --flow euclidean only; the {FlowKind.text kind} widths keep their own prior (the full-covariance Gaussian, canonicalized)."
            let lr = args.TryGetResult ReproduceArgs.Lr_Scaling |> Option.map ReproduceScaling.parseLrScaling |> Option.defaultValue ScalingLr.Constant
            if args.Contains ReproduceArgs.Lr_Scaling && kind <> FlowKind.Euclidean then
                invalidArg "lr-scaling" $"--lr-scaling applies to --flow euclidean only; the {FlowKind.text kind} widths keep their recipe's learning rate."
            let c = ReproduceScaling.configWithLr kind prior lr preset seed out
            let r =
                Render.jobProgress json (fun progress -> ReproduceScaling.run c progress cts.Token)
            let cpu = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
            if json then
                Render.json (dict [ "name", box name; "preset", box c.Job.Preset; "wall_seconds", box sw.Elapsed.TotalSeconds
                                    "cpu_seconds", box cpu; "points", box r.Points; "paired", box r.Paired; "files", box r.Files ])
            else
                Render.table $"Fig. 7.7: {FlowKind.text kind} RT flow by width (MNIST)" [ "width"; "parameters"; "accuracy mean ± std"; "CE calibrated" ]
                    [ for p in r.Points -> [ string p.Width; string p.Parameters; $"%.3f{p.AccuracyMean} ± %.3f{p.AccuracyStd}"; $"%.3f{p.CalibratedCrossEntropy}" ] ]
                Render.table "paired over the same x0: mean difference (SE)" [ "A − B"; "accuracy"; "CE calibrated" ]
                    [ for p in r.Paired -> [ $"{p.A} − {p.B}"; $"%+.4f{p.AccuracyDifference} (%.4f{p.AccuracySe})"; $"%+.4f{p.CalibratedCeDifference} (%.4f{p.CalibratedCeSe})" ] ]
                let files = String.Join(", ", r.Files)
                Render.note $"files: {files}; wall {sw.Elapsed.TotalSeconds:F1} s, CPU {cpu:F1} s"
            0
        | _ -> invalidArg "name" $"Unknown reproduction '{name}'; use gaussians, uci, mnist, fashion-transfer, wider or scaling."
    finally Console.CancelKeyPress.RemoveHandler onCancel
