/// `weightflow eval`: evaluates a set of networks into one row of the quality table (`Evaluation.evaluate`), with
/// the three baselines of a zoo beside it on request. Renders only; every figure comes from the core.
module WeightFlow.Cli.EvalCommand

open System.Diagnostics
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

let private f4 (x: float) = if System.Double.IsFinite x then $"%.4f{x}" else $"non-finite ({x}: a network's outputs overflowed)"
let private opt (fmt: float -> string) (x: float option) = x |> Option.map fmt |> Option.defaultValue "–"

/// The quality table, transposed (one column per set of networks, one line per metric) so that it fits a terminal.
let metricNames =
    [ "networks"; "test accuracy (mean ± std)"; "min accuracy"; "CE raw"; "CE calibrated: mean (median)"
      "temperature (median)"; "BMA k: accuracy / NLL"; "diversity (mean pairwise JSD)"; "fidelity (floor)"; "sliced Wasserstein (floor)"
      "nearest training checkpoint (median)"; "novelty ratio" ]

let cells (r: Evaluation.Row) =
    [ string r.Count; Render.pm r.AccuracyMean r.AccuracyStd; f4 r.AccuracyMin; f4 r.CrossEntropy
      $"{f4 r.CalibratedCrossEntropy} ({f4 r.CalibratedCrossEntropyMedian})"
      $"%.3f{r.TemperatureMedian}" + (if r.CalibrationAtBound > 0 then $" ({r.CalibrationAtBound} at bound)" else "")
      $"{r.Bma.K}: {f4 r.Bma.Accuracy} / {f4 r.Bma.Nll}"
      opt (fun d -> $"%.5f{d}") r.Diversity
      (match r.Fidelity, r.FidelityFloor with
       | Some v, Some fl -> $"%.4f{v} (%.4f{fl})"
       | None, Some fl -> $"– (%.4f{fl})"
       | _ -> "–")
      (match r.SlicedWasserstein, r.SlicedWassersteinFloor with
       | Some v, Some fl -> $"%.4f{v} (%.4f{fl})"
       | None, Some fl -> $"– (%.4f{fl})"
       | _ -> "–")
      opt f4 r.NearestTrainingMedian
      opt (fun x -> $"%.3f{x}") r.NoveltyRatio ]

/// Renders rows as one table with a column per row.
let table (title: string) (rows: Evaluation.Row list) =
    let columns = rows |> List.map cells
    Render.table title ("" :: (rows |> List.map (fun r -> r.Name)))
        (metricNames |> List.mapi (fun i name -> name :: (columns |> List.map (fun c -> c[i]))))

/// The networks of a weights file: a zoo's checkpoints, or a samples file (`weightflow sample`: kind "samples",
/// `theta`, `layout`, `space` and, when the flow recorded them, `heldout_runs` in the header).
type private Networks =
    { Layout: Layout
      Theta: Tensor
      /// The data split seed a zoo file records.
      SplitSeed: int64 option
      /// "raw" or "canonical", as a samples file records it.
      Space: string option
      /// The zoo runs the generator never saw, as a samples file may record them.
      HeldOutRuns: int[] option }

let private loadNetworks (path: string) : Networks =
    let hint = "Pass a zoo (`weightflow zoo`) or a samples file (`weightflow sample`)."
    Check.fileExists path hint
    match Storage.detect path with
    | Storage.FileKind.Safetensors (Some "zoo") ->
        let z = Zoo.load path
        { Layout = z.Layout; Theta = z.Theta; SplitSeed = Some z.Config.Seed; Space = None; HeldOutRuns = None }
    | Storage.FileKind.Safetensors (Some "samples") ->
        let layout, theta, get = Sampling.load path
        let tryGet k = try Some(get k) with Check.DataError _ -> None
        let held =
            tryGet "heldout_runs"
            |> Option.filter (fun s -> s.Trim() <> "")
            |> Option.map (fun s -> Storage.interpret path "samples" (fun () -> s.Split(',') |> Array.map (fun r -> int (r.Trim()))))
        { Layout = layout; Theta = theta; SplitSeed = None; Space = tryGet "space"; HeldOutRuns = held }
    | kind -> Check.fail Check.ErrorKind.WrongKind $"{path} is not networks (a zoo or samples file) but {Storage.describe kind}. {hint}"

let eval (args: ParseResults<EvalArgs>) : int =
    let json = args.Contains EvalArgs.Json
    let seed = int64 (args.GetResult(EvalArgs.Seed, 0))
    let count = args.GetResult(EvalArgs.Count, 64)
    Check.arg "count" (count >= 1) $"--count must be positive; got {count}."
    // checked here: Evaluation's own check names its config fields (BmaK, DiversityMax, ...), not the option
    let bma = args.GetResult(EvalArgs.Bma, 16)
    Check.option (bma >= 1) $"--bma must be at least 1 (the networks averaged in the BMA column); got {bma}."
    let task = Task.parse (args.GetResult EvalArgs.Task)
    let weightsPath = args.GetResult EvalArgs.Weights
    Check.fileExists weightsPath "Write one with `weightflow zoo` (a zoo) or `weightflow sample` (a samples file)."
    let weights = loadNetworks weightsPath
    let zoo =
        args.TryGetResult EvalArgs.Zoo |> Option.map (fun p ->
            Check.fileExists p "Write one with `weightflow run` or `weightflow zoo` + `weightflow align`."
            Zoo.load p)
    zoo |> Option.iter (fun z ->
        if z.Layout <> weights.Layout then
            Check.fail Check.ErrorKind.Mismatch $"The networks are {weights.Layout} MLPs but the zoo holds {z.Layout} MLPs; pass the zoo the networks were generated from.")
    // The data split must be the zoo's, or test rows could be ones the zoo trained on.
    let splitSeed =
        match zoo, weights.SplitSeed with
        | Some z, _ -> z.Config.Seed
        | None, Some s -> s
        | None, None -> seed
    let data = Sources.load task splitSeed
    let space, spaceName =
        match args.GetResult(EvalArgs.Space, defaultArg weights.Space "raw").Trim().ToLowerInvariant() with
        | "raw" -> id, "raw"
        | "canonical" -> Canonical.canonicalize Canonical.defaultConfig weights.Layout, "canonical"
        | s -> invalidArg "space" $"Unknown space '{s}'; use raw or canonical."
    let config = { Evaluation.defaultConfig with BmaK = bma; Seed = seed }
    let fraction = args.GetResult(EvalArgs.Holdout, 0.1)
    let sw = Stopwatch.StartNew()
    let ctx, baselineInputs =
        match zoo with
        | None ->
            if args.Contains EvalArgs.Baselines then invalidArg "baselines" "--baselines needs --zoo (the zoo whose mean, Gaussian and held-out runs are the baselines)."
            Evaluation.prepare config weights.Layout data None, None
        | Some z ->
            // The runs the generator never saw, when its samples file says which; else the last `fraction` of them.
            let holdout =
                match weights.HeldOutRuns with
                | Some runs when not (args.Contains EvalArgs.Holdout) -> Holdout.ofRuns runs z
                | _ -> Holdout.split fraction z
            let ctx, h, pool = Evaluation.ofHoldout config space data z holdout
            ctx, Some (h, pool)
    let prepareSeconds = sw.Elapsed.TotalSeconds
    let theta = space (Evaluation.subset seed count weights.Theta)
    let row = Evaluation.evaluate ctx (System.IO.Path.GetFileNameWithoutExtension weightsPath) theta
    let baselineRows =
        match baselineInputs with
        | Some (h, pool) when args.Contains EvalArgs.Baselines -> Evaluation.baselines ctx space count (seed + 1L) h.Train pool
        | _ -> []
    let rows = row :: baselineRows
    if json then
        Render.json
            {| space = spaceName; task = Task.name task; split_seed = splitSeed; prepare_seconds = prepareSeconds
               holdout_fraction = (if zoo.IsSome then Some fraction else None)
               bandwidth = ctx.Zoo |> Option.map (fun z -> z.Bandwidth)
               held_out_median_distance = ctx.Zoo |> Option.map (fun z -> z.Novelty.HeldOutMedian)
               rows = rows |}
    else
        table $"Evaluation on the {Task.name task} test split ({spaceName} space; calibration on {Calibration.describe config.Calibration})" rows
        Render.note $"prepare {prepareSeconds:F2} s; one evaluation of {row.Count} networks {row.Seconds:F2} s"
    0
