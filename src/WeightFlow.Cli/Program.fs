module WeightFlow.Cli.Program

open System
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let private dispatch (args: ParseResults<Command>) =
    match args.GetSubCommand() with
    | Run a -> RunCommand.run a
    | Reproduce a -> ReproduceCommand.reproduce a
    | Zoo a -> ZooCommands.zoo a
    | Info a -> ZooCommands.info a
    | Data d ->
        match d.GetSubCommand() with
        | Prepare p -> DataCommands.prepare p
    | Align a -> AlignCommands.align a
    | Barrier a -> AlignCommands.barrier a
    | Eval a -> EvalCommand.eval a
    | Bench b ->
        match b.GetSubCommand() with
        | BenchArgs.Zoo a -> ZooCommands.bench a
        | BenchArgs.Align a -> AlignCommands.bench a
        | BenchArgs.Model a -> ModelCommands.bench a
    | Train a -> TrainCommands.train a
    | Sample a -> SampleCommands.sample a
    | Loglik a -> SampleCommands.loglik a

/// The process settings of the `weightflow` tool: the measured tuned ones (Engine.ProcessSettings.tuned), with two
/// host overrides from the environment: WEIGHTFLOW_THREADS=n (intra-op threads; useful on a shared machine) and
/// WEIGHTFLOW_FUSED=0 (the torch-operation attention path instead of the fused kernels).
let private processSettings () =
    let threads =
        match Int32.TryParse(Environment.GetEnvironmentVariable "WEIGHTFLOW_THREADS") with
        | true, n when n >= 1 -> Some n
        | _ -> None
    let attention = if Environment.GetEnvironmentVariable "WEIGHTFLOW_FUSED" = "0" then Engine.TorchOperations else Engine.Fused
    { Engine.ProcessSettings.tuned with Threads = threads; Attention = attention }

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "weightflow", errorHandler = ProcessExiter())
    let args = parser.ParseCommandLine(argv)
    try
        Engine.configureProcess (processSettings ())
        dispatch args
    with
    | :? ArgumentException as e ->
        // .NET appends " (Parameter 'name')"; the messages already name what is wrong.
        let suffix = if isNull e.ParamName then "" else $" (Parameter '{e.ParamName}')"
        Render.error (if suffix <> "" && e.Message.EndsWith suffix then e.Message[.. e.Message.Length - suffix.Length - 1] else e.Message)
        2
    | Check.DataError msg -> Render.error msg; 3
    | Engine.EngineError msg -> Render.error msg; 4
    | :? OperationCanceledException -> Render.error "cancelled"; 130
