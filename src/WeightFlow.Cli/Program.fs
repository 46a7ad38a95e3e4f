module WeightFlow.Cli.Program

open System
open Argu
open WeightFlow
open WeightFlow.Cli.Args

/// The subcommand given, else one option error naming the choices (Argu's GetSubCommand printed the whole usage and
/// exited with 3, the code of a file or data error).
let private subcommand (what: string) (choices: string) (args: ParseResults<'T>) : 'T =
    match args.TryGetSubCommand() with
    | Some c -> c
    | None -> Check.fail Check.ErrorKind.InvalidOption $"`{what}` needs a command: {choices}. `{what} --help` describes each."

let private dispatch (args: ParseResults<Command>) =
    match subcommand "weightflow" "run, reproduce, zoo, info, data, align, barrier, eval, bench, train, sample, loglik or export" args with
    | Run a -> RunCommand.run a
    | Reproduce a -> ReproduceCommand.reproduce a
    | Zoo a -> ZooCommands.zoo a
    | Info a -> ZooCommands.info a
    | Data d ->
        match subcommand "weightflow data" "prepare" d with
        | Prepare p -> DataCommands.prepare p
    | Align a -> AlignCommands.align a
    | Barrier a -> AlignCommands.barrier a
    | Eval a -> EvalCommand.eval a
    | Bench b ->
        match subcommand "weightflow bench" "zoo, align or model" b with
        | BenchArgs.Zoo a -> ZooCommands.bench a
        | BenchArgs.Align a -> AlignCommands.bench a
        | BenchArgs.Model a -> ModelCommands.bench a
    | Train a -> TrainCommands.train a
    | Sample a -> SampleCommands.sample a
    | Loglik a -> SampleCommands.loglik a
    | Export a -> ExportCommand.export a

/// The process settings of the `weightflow` tool: the measured tuned ones (Engine.ProcessSettings.tuned) with the
/// environment's overrides (WEIGHTFLOW_THREADS, WEIGHTFLOW_FUSED; `ProcessSettings.withEnvironment`).
let private processSettings () =
    match Engine.ProcessSettings.withEnvironment Engine.ProcessSettings.tuned with
    | Ok s -> s
    | Error msg -> Check.fail Check.ErrorKind.InvalidOption msg

/// The exit code of an error kind: 2 for options, 3 for files and data, 5 for numerical failures, 6 for a failed
/// write, 7 for an output another run holds.
let exitCode (kind: Check.ErrorKind) =
    match kind with
    | Check.ErrorKind.InvalidOption -> 2
    | Check.ErrorKind.NotFound | Check.ErrorKind.WrongKind | Check.ErrorKind.Corrupt | Check.ErrorKind.InvalidData
    | Check.ErrorKind.Mismatch -> 3
    | Check.ErrorKind.NonFinite -> 5
    | Check.ErrorKind.WriteFailed -> 6
    | Check.ErrorKind.Busy -> 7

/// The command an argument list names ("weightflow zoo", "weightflow bench model"), for the pointer to its --help.
let private commandOf (argv: string[]) =
    let commands = set [ "run"; "reproduce"; "zoo"; "info"; "data"; "align"; "barrier"; "eval"; "bench"; "train"; "sample"; "loglik"; "export" ]
    match List.ofArray argv with
    | ("data" | "bench" as c) :: sub :: _ when set [ "prepare"; "zoo"; "align"; "model" ] |> Set.contains sub -> $"weightflow {c} {sub}"
    | c :: _ when commands.Contains c -> $"weightflow {c}"
    | _ -> "weightflow"

/// Argu's exits: `--help` prints the usage on stdout (exit 0); a parse error (an unknown or malformed option, a
/// missing mandatory one) is one `error:` line naming the problem and the command whose --help lists the options,
/// exit 2 (Argu's ProcessExiter printed the whole usage after it; WEIGHTFLOW_DEBUG=1 still does).
let private exiter (command: string) =
    { new IExiter with
        member _.Name = "weightflow"
        member _.Exit(msg, code) =
            match code with
            | ErrorCode.HelpText ->
                Console.Out.WriteLine msg
                exit 0
            | _ ->
                if Environment.GetEnvironmentVariable "WEIGHTFLOW_DEBUG" = "1" then eprintfn "%s" msg
                let problem =
                    msg.Split('\n', StringSplitOptions.RemoveEmptyEntries) |> Array.tryHead |> Option.defaultValue "invalid arguments"
                let problem = problem.Trim()
                let problem = if problem.StartsWith "ERROR: " then problem.Substring 7 else problem
                Render.error $"{problem.TrimEnd('.')}; `{command} --help` lists the options."
                exit 2 }

[<EntryPoint>]
let main argv =
    let parser = ArgumentParser.Create<Command>(programName = "weightflow", errorHandler = exiter (commandOf argv))
    let args = parser.ParseCommandLine(argv)
    // Every failure is one line on stderr and a non-zero exit code (issue 15): a WeightFlowError or an argument
    // error by its kind, anything else as an unexpected error (set WEIGHTFLOW_DEBUG=1 for the stack trace).
    try
        Engine.configureProcess (processSettings ())
        dispatch args
    with
    | Engine.EngineError msg -> Render.error msg; 4
    | :? OperationCanceledException -> Render.error "cancelled"; 130
    | e ->
        match Check.classify e with
        | Some(kind, msg) ->
            Render.error msg
            let code = exitCode kind
            // a script reading --json gets the failure as JSON too, instead of an empty stdout
            if Array.contains "--json" argv then
                Render.json (dict [ "error", box (dict [ "kind", box (Check.ErrorKind.text kind); "message", box msg; "exit_code", box code ]) ])
            code
        | None ->
            if Environment.GetEnvironmentVariable "WEIGHTFLOW_DEBUG" = "1" then eprintfn "%O" e
            Render.error $"unexpected {e.GetType().Name}: {e.Message} (a bug: please report it with the command; WEIGHTFLOW_DEBUG=1 prints the stack trace)"
            70
