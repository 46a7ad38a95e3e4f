/// The main job (`weightflow run`, thesis §7.2 and Fig. 7.2): train the zoo as one batch, align it to one reference,
/// and measure loss barriers before and after. One configuration record in, one result record out; progress and
/// cancellation are parameters, so the CLI, the facade and scripts run the same function and only render.
///
/// Each stage is a function whose output is a file in `OutDir`, written atomically (Storage), and recorded in
/// `stages.json` (also atomic) with a key naming everything the output depends on. A stage whose key and file are
/// already there is read back instead of recomputed, so re-running a finished or interrupted job is cheap; zoo
/// training also resumes from its training state after a kill (Zoo.trainResumable). Later stages (flows, sampling,
/// evaluation) extend the job the same way: a stage function, a key, a file.
namespace WeightFlow

open System
open System.Collections.Generic
open System.Diagnostics
open System.Globalization
open System.IO
open System.Text.Json
open System.Threading
open TorchSharp

/// What the main job does.
type MainJobConfig =
    { Task: Task
      Zoo: ZooConfig
      Alignment: AlignmentMethod
      /// Random checkpoint pairs per barrier measurement (the thesis' Fig. 7.2: 250).
      Pairs: int
      /// Points along each linear path (odd, >= 3: the endpoints and the midpoint among them).
      Points: int
      /// Seeds the barrier pairs (the zoo's own seed is Zoo.Seed).
      Seed: int64
      /// Results folder.
      OutDir: string }

/// The stages of the main job, in order.
type MainJobStage =
    | TrainZoo
    | AlignZoo
    | MeasureBarriers

/// Progress within a stage: `Done` of `Total` units (iterations, networks, pairs).
type MainJobProgress = { Stage: MainJobStage; Label: string; Done: int; Total: int; Message: string }

/// What the main job produced. The zoos own native memory: dispose their Theta when done.
[<NoEquality; NoComparison>]
type MainJobResult =
    { Zoo: Zoo
      ZooPath: string
      /// Wall-clock seconds of training; None when the zoo file of an earlier run was reused.
      TrainingSeconds: float option
      Aligned: Zoo
      AlignedPath: string
      /// Wall-clock seconds of alignment; None when reused.
      AlignSeconds: float option
      /// Barriers of the same random pairs before and after alignment.
      Before: Barrier.Barriers
      After: Barrier.Barriers
      BarriersPath: string
      /// The stages read back from an earlier run instead of computed.
      Reused: MainJobStage list }

[<RequireQualifiedAccess>]
module MainJobConfig =
    /// The thesis' UCI main job: the appendix A zoo with `seed`, weight matching, 250 pairs, 3 points.
    let uci (seed: int64) (outDir: string) : MainJobConfig =
        { Task = Task.Uci; Zoo = { ZooConfig.uci with Seed = seed }; Alignment = WeightMatching
          Pairs = 250; Points = 3; Seed = seed; OutDir = outDir }

    /// Checks the fields the stages do not check themselves.
    let validate (c: MainJobConfig) =
        ZooConfig.validate c.Zoo
        Check.arg "Pairs" (c.Pairs >= 1) $"Pairs must be at least 1; got {c.Pairs}."
        Check.arg "Points" (c.Points >= 3 && c.Points % 2 = 1) $"Points must be odd and >= 3; got {c.Points}."
        Check.arg "OutDir" (not (String.IsNullOrWhiteSpace c.OutDir)) "OutDir must name a results folder."

[<RequireQualifiedAccess>]
module MainJob =
    let private stem (c: MainJobConfig) = Task.fileStem c.Task

    /// The output files of a configuration.
    let zooPath (c: MainJobConfig) = Path.Combine(c.OutDir, $"zoo-{stem c}.safetensors")
    let alignedPath (c: MainJobConfig) = Path.Combine(c.OutDir, $"zoo-{stem c}-aligned.safetensors")
    let barriersPath (c: MainJobConfig) = Path.Combine(c.OutDir, $"barriers-{stem c}.safetensors")
    let private manifestPath (c: MainJobConfig) = Path.Combine(c.OutDir, "stages.json")

    /// The keys naming what each stage's output depends on.
    let private zooKey (c: MainJobConfig) =
        (("task", Task.name c.Task) :: ZooConfig.toMetadata c.Zoo) |> List.map (fun (k, v) -> $"{k}={v}") |> String.concat ";"
    let private alignKey (c: MainJobConfig) = $"{zooKey c};alignment={ZooAlignment.name c.Alignment}"
    let private barriersKey (c: MainJobConfig) = $"{alignKey c};pairs={c.Pairs};points={c.Points};seed={c.Seed}"

    let private stageName (s: MainJobStage) = match s with TrainZoo -> "zoo" | AlignZoo -> "align" | MeasureBarriers -> "barriers"

    let private readManifest (c: MainJobConfig) : Map<string, string> =
        try
            use doc = JsonDocument.Parse(File.ReadAllText(manifestPath c))
            [ for p in doc.RootElement.EnumerateObject() -> p.Name, p.Value.GetString() ] |> Map.ofList
        with _ -> Map.empty

    /// Records a finished stage (temp file + rename, like every output).
    let private record (c: MainJobConfig) (stage: MainJobStage) (key: string) =
        let entries = readManifest c |> Map.add (stageName stage) key
        let path = manifestPath c
        let tmp = $"{path}.{Environment.ProcessId}.tmp"
        File.WriteAllText(tmp, JsonSerializer.Serialize(Dictionary<string, string>(entries), JsonSerializerOptions(WriteIndented = true)))
        File.Move(tmp, path, true)

    /// Whether a stage finished earlier with the same key and its file is still there.
    let private finished (c: MainJobConfig) (stage: MainJobStage) (key: string) (file: string) =
        File.Exists file && readManifest c |> Map.tryFind (stageName stage) = Some key

    let private timed (f: unit -> 'a) : 'a * float =
        let sw = Stopwatch.StartNew()
        let r = f ()
        r, sw.Elapsed.TotalSeconds

    /// Stage 1: the zoo, trained as one batch (resumable: the training state lives beside the file until it is
    /// saved), or read back from an earlier run with the same configuration.
    let trainZoo (c: MainJobConfig) (progress: MainJobProgress -> unit) (ct: CancellationToken) : Zoo * float option * bool =
        let path = zooPath c
        if finished c TrainZoo (zooKey c) path then Zoo.load path, None, true
        else
            let data = Sources.load c.Task c.Zoo.Seed
            let perEpoch = (Dataset.count data.Train + c.Zoo.BatchSize - 1) / c.Zoo.BatchSize
            let total = perEpoch * c.Zoo.Epochs
            let label = $"zoo {Task.name c.Task} {c.Zoo.Layout} x{c.Zoo.Runs}"
            let zoo, seconds =
                timed (fun () ->
                    Zoo.trainResumable { Path = path + ".training-state"; MinInterval = TimeSpan.FromSeconds 30.0 } c.Zoo c.Task data
                        (fun p -> progress { Stage = TrainZoo; Label = label; Done = p.Iteration; Total = total; Message = $"epoch {p.Epoch + 1} loss {p.Loss:F3}" })
                        ct)
            Zoo.save path zoo
            record c TrainZoo (zooKey c)
            zoo, Some seconds, false

    /// Stage 2: every checkpoint aligned to the reference (ZooAlignment), or read back.
    let alignZoo (c: MainJobConfig) (zoo: Zoo) (progress: MainJobProgress -> unit) : Zoo * float option * bool =
        let path = alignedPath c
        if finished c AlignZoo (alignKey c) path then Zoo.load path, None, true
        else
            let n = Zoo.count zoo
            let label = $"align {n} networks"
            let aligned, seconds =
                timed (fun () ->
                    ZooAlignment.align (fun d t -> progress { Stage = AlignZoo; Label = label; Done = d; Total = t; Message = "" })
                        (ZooAlignment.rebasin c.Alignment zoo) zoo)
            let alignedZoo = Zoo.withTheta zoo aligned
            Zoo.save path alignedZoo
            record c AlignZoo (alignKey c)
            alignedZoo, Some seconds, false

    let private barrierTensors (prefix: string) (b: Barrier.Barriers) =
        [ $"{prefix}.losses", b.Losses; $"{prefix}.midpoint", b.Midpoint; $"{prefix}.relative", b.Relative; $"{prefix}.maximum", b.Maximum ]

    let private barriersOf (path: string) (s: Storage.Stored) (prefix: string) : Barrier.Barriers =
        let t name = Storage.tensor path s $"{prefix}.{name}"
        let losses = t "losses"
        { Times = torch.linspace(0.0, 1.0, losses.shape[1], dtype = losses.dtype)
          Losses = losses; Midpoint = t "midpoint"; Relative = t "relative"; Maximum = t "maximum" }

    /// Stage 3: barriers of the same `Pairs` random checkpoint pairs in the zoo and in the aligned zoo (training split),
    /// or read back.
    let measureBarriers (c: MainJobConfig) (zoo: Zoo) (aligned: Zoo) (progress: MainJobProgress -> unit) : Barrier.Barriers * Barrier.Barriers * bool =
        let path = barriersPath c
        if finished c MeasureBarriers (barriersKey c) path then
            let s = Storage.read path
            barriersOf path s "unaligned", barriersOf path s "aligned", true
        else
            let label = $"barriers {c.Pairs} pairs"
            progress { Stage = MeasureBarriers; Label = label; Done = 0; Total = 2; Message = "" }
            let before = Barrier.ofZoo c.Pairs c.Points c.Seed zoo
            progress { Stage = MeasureBarriers; Label = label; Done = 1; Total = 2; Message = "" }
            let after = Barrier.ofZoo c.Pairs c.Points c.Seed aligned
            progress { Stage = MeasureBarriers; Label = label; Done = 2; Total = 2; Message = "" }
            let meta = [ "weightflow.kind", "barriers"; "pairs", string c.Pairs; "points", string c.Points
                         "seed", c.Seed.ToString(CultureInfo.InvariantCulture); "task", Task.name c.Task ]
            Storage.write path (Map.ofList meta) (barrierTensors "unaligned" before @ barrierTensors "aligned" after)
            record c MeasureBarriers (barriersKey c)
            before, after, false

    /// Runs the stages in order (see the module's summary). `progress` is called on the calling thread; `ct` is
    /// checked between training iterations.
    let run (c: MainJobConfig) (progress: MainJobProgress -> unit) (ct: CancellationToken) : MainJobResult =
        MainJobConfig.validate c
        Directory.CreateDirectory c.OutDir |> ignore
        let zoo, trainingSeconds, zooReused = trainZoo c progress ct
        ct.ThrowIfCancellationRequested()
        let aligned, alignSeconds, alignReused = alignZoo c zoo progress
        ct.ThrowIfCancellationRequested()
        let before, after, barriersReused = measureBarriers c zoo aligned progress
        { Zoo = zoo; ZooPath = zooPath c; TrainingSeconds = trainingSeconds
          Aligned = aligned; AlignedPath = alignedPath c; AlignSeconds = alignSeconds
          Before = before; After = after; BarriersPath = barriersPath c
          Reused = [ if zooReused then TrainZoo
                     if alignReused then AlignZoo
                     if barriersReused then MeasureBarriers ] }
