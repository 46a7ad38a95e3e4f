/// Output: tables, progress bars and JSON. Everything the user sees goes through here.
module WeightFlow.Cli.Render

open System
open System.Text.Json
open WeightFlow
open Spectre.Console

/// Prints one JSON object on stdout.
let json (o: obj) = Console.Out.WriteLine(JsonSerializer.Serialize(o, JsonSerializerOptions(WriteIndented = true)))

/// A table with a title, header and rows of strings.
let table (title: string) (header: string list) (rows: string list list) =
    let t = Table(Title = TableTitle(Markup.Escape title))
    t.Border <- TableBorder.Rounded
    for h in header do t.AddColumn(TableColumn(Markup.Escape h)) |> ignore
    for r in rows do t.AddRow(r |> List.map Markup.Escape |> Array.ofList) |> ignore
    AnsiConsole.Write t

/// Runs `work report` under progress bars (on stderr), one per label, each made when its label is first reported.
/// `report label done total message` moves that label's bar; call it from the work's thread.
let stagedProgress (quiet: bool) (work: (string -> int -> int -> string -> unit) -> 'a) : 'a =
    if quiet || Console.IsErrorRedirected && Console.IsOutputRedirected then work (fun _ _ _ _ -> ())
    else
        let console = AnsiConsole.Create(AnsiConsoleSettings(Out = AnsiConsoleOutput(Console.Error)))
        console.Progress()
            .AutoClear(false)
            .Columns([| TaskDescriptionColumn() :> ProgressColumn; ProgressBarColumn(); PercentageColumn()
                        RemainingTimeColumn(); SpinnerColumn() |])
            .Start(fun ctx ->
                let bars = Collections.Generic.Dictionary<string, ProgressTask>()
                let r = work (fun label d total msg ->
                    let bar =
                        match bars.TryGetValue label with
                        | true, b -> b
                        | _ ->
                            for b in bars.Values do b.Value <- b.MaxValue
                            let b = ctx.AddTask(Markup.Escape label, true, float total)
                            bars[label] <- b
                            b
                    bar.Value <- float d
                    if not (String.IsNullOrEmpty msg) then bar.Description <- Markup.Escape $"{label} {msg}")
                for b in bars.Values do b.Value <- b.MaxValue
                r)

/// Runs `work report` under one progress bar of `total` steps (`stagedProgress` with one label).
/// `report done message` moves the bar; it is safe to call from the work's thread.
let progress (quiet: bool) (label: string) (total: int) (work: (int -> string -> unit) -> 'a) : 'a =
    stagedProgress quiet (fun report -> work (fun d msg -> report label d total msg))

/// Runs `work` (the main job or a reproduction) under staged progress bars, one per stage label. The zoo and the flows
/// report every iteration; their bars move every 10th.
let jobProgress (quiet: bool) (work: (MainJobProgress -> unit) -> 'a) : 'a =
    stagedProgress quiet (fun report ->
        work (fun p ->
            let frequent = match p.Stage with TrainZoo | TrainFlow _ -> true | _ -> false
            if not frequent || p.Done % 10 = 0 || p.Done = p.Total then report p.Label p.Done p.Total p.Message))

/// Writes an informational line on stderr.
let note (msg: string) = Console.Error.WriteLine msg

/// Writes an error as one line on stderr (not wrapped at the terminal's width: scripts read it whole).
let error (msg: string) =
    let line = msg.ReplaceLineEndings(" ")
    if Console.IsErrorRedirected then Console.Error.WriteLine $"error: {line}"
    else Console.Error.WriteLine $"\u001b[31merror:\u001b[0m {line}"

/// Formats mean ± std.
/// Never prints a bare NaN (issue 15): a missing spread (one value) and a non-finite mean say why.
let pm (mean: float) (std: float) =
    if not (Double.IsFinite mean) then $"non-finite ({mean}: NaN or infinite values among the inputs)"
    elif Double.IsNaN std then $"%.4f{mean} (one value: no spread)"
    else $"%.4f{mean} ± %.4f{std}"

