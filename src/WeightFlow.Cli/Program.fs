module WeightFlow.Cli.Program

open System
open Argu
open WeightFlow
open WeightFlow.Cli.Args

let private dispatch (args: ParseResults<Command>) =
    match args.GetSubCommand() with
    | Run a -> RunCommand.run a
    | Zoo a -> ZooCommands.zoo a
    | Info a -> ZooCommands.info a
    | Data d ->
        match d.GetSubCommand() with
        | Prepare p -> DataCommands.prepare p
    | Align a -> AlignCommands.align a
    | Barrier a -> AlignCommands.barrier a
    | Bench b ->
        match b.GetSubCommand() with
        | BenchArgs.Zoo a -> ZooCommands.bench a
        | BenchArgs.Align a -> AlignCommands.bench a
        | BenchArgs.Model a -> ModelCommands.bench a

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "weightflow", errorHandler = ProcessExiter())
    let args = parser.ParseCommandLine(argv)
    try
        Engine.ensureLoaded ()
        dispatch args
    with
    | :? ArgumentException as e -> Render.error e.Message; 2
    | Check.DataError msg -> Render.error msg; 3
    | Engine.EngineError msg -> Render.error msg; 4
    | :? OperationCanceledException -> Render.error "cancelled"; 130
