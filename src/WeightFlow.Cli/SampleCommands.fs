/// `weightflow sample` and `weightflow loglik`: sampling networks from a trained flow and their log-likelihood.
module WeightFlow.Cli.SampleCommands

open System
open System.Globalization
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

let private window (text: string) =
    match text.Split(',') with
    | [| a; b |] ->
        let parse (s: string) =
            match Double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture) with
            | true, v -> v
            | _ -> invalidArg "window" $"--window takes two times A,B in [0, 1], e.g. 0.8,1; got '{text}'."
        parse a, parse b
    | _ -> invalidArg "window" $"--window takes two times A,B in [0, 1], e.g. 0.8,1; got '{text}'."

let sample (args: ParseResults<SampleArgs>) : int =
    let json = args.Contains SampleArgs.Json
    let flowPath = args.GetResult SampleArgs.Flow
    Check.fileExists flowPath "Train one with `weightflow train --zoo ZOO --out FILE`."
    let out = args.GetResult SampleArgs.Out
    let device = Engine.device (args.GetResult(SampleArgs.Device, "cpu"))
    let noise =
        match args.TryGetResult SampleArgs.Noise, args.TryGetResult SampleArgs.Window with
        | Some eps, Some w ->
            let a, b = window w
            match args.GetResult(SampleArgs.Noise_Scale, NoiseScaleArg.Time) with
            | NoiseScaleArg.Time -> Some { Transform.Noise.Eps = eps; Transform.Noise.Start = a; Transform.Noise.Stop = b }
            | NoiseScaleArg.Step ->
                if b <> 1.0 then invalidArg "window" $"--noise-scale step adds noise at every grid time after A up to t = 1 (the anchor's rule); pass --window A,1, got B = {b}."
                Some (Transform.perGridPoint eps a (args.GetResult(SampleArgs.Steps, 100)))
        | Some _, None -> invalidArg "window" "--noise needs --window A,B (the time window of the noise, e.g. 0.8,1)."
        | None, Some _ -> invalidArg "noise" "--window needs --noise EPS (the noise scale)."
        | None, None -> None
    let layout = args.TryGetResult SampleArgs.Layout |> Option.map Layout.parse
    let guidance =
        match args.TryGetResult SampleArgs.Guidance, args.TryGetResult SampleArgs.Task with
        | Some lambda, Some task ->
            let data = Sources.load (Task.parse task) (int64 (args.GetResult(SampleArgs.Split_Seed, 0)))
            Some { Lambda = lambda
                   At = (match args.GetResult(SampleArgs.Guide_At, GuideAtArg.State) with GuideAtArg.State -> GuideAt.State | GuideAtArg.Prediction -> GuideAt.Prediction)
                   Data = data
                   Batch = args.GetResult(SampleArgs.Guide_Batch, 64) }
        | Some _, None -> invalidArg "task" "--guidance needs --task T (the task whose training loss guides the samples)."
        | None, Some _ -> invalidArg "guidance" "--task is only used with --guidance LAMBDA."
        | None, None -> None
    let config =
        { SamplingConfig.defaults (args.GetResult(SampleArgs.Count, 100)) with
            Steps = args.GetResult(SampleArgs.Steps, 100)
            Method = (match args.GetResult(SampleArgs.Solver, SolverArg.Euler) with SolverArg.Euler -> Method.Euler | SolverArg.Heun -> Method.Heun | SolverArg.Rk4 -> Method.Rk4)
            Rule = (match args.GetResult(SampleArgs.Rule, RuleArg.Conditional) with RuleArg.Conditional -> VelocityRule.Conditional | RuleArg.Anchor -> VelocityRule.AnchorDisplacement | RuleArg.Prior_Only -> VelocityRule.PriorOnly)
            Noise = noise
            Guidance = guidance
            Layout = layout
            BatchSize = args.GetResult(SampleArgs.Batch, 64)
            Temperature = args.GetResult(SampleArgs.Temperature, 1.0)
            Seed = int64 (args.GetResult(SampleArgs.Seed, 0)) }
    SamplingConfig.validate config
    let flow = Flow.load device flowPath
    if config.Temperature <> 1.0 && not json then
        let space = Flow.spaceOn flow (defaultArg config.Layout (Flow.layout flow))
        Render.note $"temperature {config.Temperature}: scales {Prior.temperatureEffect flow.Prior space}."
    let batches = (config.Count + config.BatchSize - 1) / config.BatchSize
    let result =
        Render.progress json $"sampling {config.Count} networks" (batches * config.Steps) (fun report ->
            Sampling.sample config (fun k -> report k "") device flow)
    if result.Theta.shape[0] = 0L then
        Render.error $"all {config.Count} samples are non-finite (NaN or infinite); nothing was written. Try fewer noise, a smaller --guidance, or another solver."
        5
    else
        // The zoo runs the flow never saw travel with the samples, so `weightflow eval` compares against those runs.
        let heldOut =
            let stored = Storage.read flowPath
            for _, t in stored.Tensors do t.Dispose()
            stored.Metadata |> Map.tryFind "heldout_runs" |> Option.map (fun r -> "heldout_runs", r) |> Option.toList
        Sampling.save out ([ "flow.file", IO.Path.GetFileName flowPath ] @ heldOut @ Sampling.metadata config) flow result
        let n = int result.Theta.shape[0]
        if result.NonFinite.Length > 0 then
            Render.note $"warning: {result.NonFinite.Length} of {config.Count} samples were non-finite (NaN or infinite) and were left out of {out}."
        if json then
            Render.json
                (dict [ "file", box out; "layout", box (string result.Layout); "count", box n
                        "non_finite", box result.NonFinite.Length; "non_finite_indices", box result.NonFinite
                        "flow", box (FlowKind.text flow.Space.Kind); "steps", box config.Steps
                        "seconds", box result.Seconds ])
        else
            Render.table $"Samples written to {out}" [ "what"; "value" ]
                [ [ "networks"; $"{n} of {result.Layout}" ]
                  [ "non-finite (left out)"; string result.NonFinite.Length ]
                  [ "flow"; FlowKind.text flow.Space.Kind ]
                  [ "settings"; Sampling.metadata config |> List.map (fun (k, v) -> $"{k}={v}") |> String.concat " " ]
                  [ "time"; $"%.2f{result.Seconds} s" ] ]
        0

let loglik (args: ParseResults<LoglikArgs>) : int =
    let json = args.Contains LoglikArgs.Json
    let flowPath = args.GetResult LoglikArgs.Flow
    let weightsPath = args.GetResult LoglikArgs.Weights
    Check.fileExists flowPath "Train one with `weightflow train --flow euclidean --zoo ZOO --out FILE`."
    Check.fileExists weightsPath "Write one with `weightflow sample` or `weightflow zoo`."
    let device = Engine.device (args.GetResult(LoglikArgs.Device, "cpu"))
    let flow = Flow.load device flowPath
    let layout, theta =
        match Storage.detect weightsPath with
        | Storage.FileKind.Safetensors (Some k) when k = Sampling.Kind -> let l, t, _ = Sampling.load weightsPath in l, t
        | _ -> let z = Zoo.load weightsPath in z.Layout, z.Theta
    // checked here: a zero count reached Array.average ("The input array was empty"), a zero batch a range step
    let count, batch = args.GetResult(LoglikArgs.Count, 1), args.GetResult(LoglikArgs.Batch, 16)
    Check.option (count >= 1) $"--count must be at least 1; got {count}."
    Check.option (batch >= 1) $"--batch must be at least 1; got {batch}."
    let theta =
        match args.TryGetResult LoglikArgs.Count with
        | Some n when int64 n < theta.shape[0] -> theta.narrow(0L, 0L, int64 n)
        | _ -> theta
    let p = Layout.paramCount layout
    let divergence =
        match args.TryGetResult LoglikArgs.Probes with
        | Some 0 -> Divergence.Exact
        | Some n -> Divergence.Hutchinson(n, Probe.Rademacher)
        | None -> if p <= 64 then Divergence.Exact else Divergence.Hutchinson(8, Probe.Rademacher)
    let steps = args.GetResult(LoglikArgs.Steps, 16)
    let sw = Diagnostics.Stopwatch.StartNew()
    let values =
        Sampling.logLikelihood divergence steps (int64 (args.GetResult(LoglikArgs.Seed, 0))) batch
            flow layout (theta.``to``(device))
    let seconds = sw.Elapsed.TotalSeconds
    let mean = Array.average values
    let std = if values.Length > 1 then sqrt (values |> Array.averageBy (fun v -> (v - mean) ** 2.0) |> fun v -> v * float values.Length / float (values.Length - 1)) else 0.0
    let divText = match divergence with Divergence.Exact -> "exact" | Divergence.Hutchinson (n, _) -> $"hutchinson({n} rademacher probes)"
    if json then
        Render.json
            (dict [ "weights", box weightsPath; "layout", box (string layout); "count", box values.Length
                    "divergence", box divText; "steps", box steps; "log_likelihood", box values
                    "mean", box mean; "std", box std; "per_parameter_mean", box (mean / float p); "seconds", box seconds ])
    else
        Render.table $"log p1 of {values.Length} networks of {layout} ({p} parameters) under {flowPath}" [ "what"; "value" ]
            [ [ "mean ± std"; Render.pm mean std ]
              [ "per parameter"; $"%.4f{mean / float p}" ]
              [ "divergence"; divText ]
              [ "RK4 steps (t = 1 -> 0)"; string steps ]
              [ "time"; $"%.2f{seconds} s" ] ]
    0
