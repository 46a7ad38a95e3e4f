/// `weightflow align`, `weightflow barrier`, `weightflow bench align` (issue 3).
module WeightFlow.Cli.AlignCommands

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

/// Aligns a zoo's checkpoints to its reference under a progress bar; returns the aligned weights and the seconds.
let private alignZoo (quiet: bool) (m: Rebasin.Method) (zoo: Zoo) : Tensor * float =
    let n = Zoo.count zoo
    let sw = Stopwatch.StartNew()
    let aligned = Render.progress quiet $"align {n} networks" n (fun report -> ZooAlignment.align (fun d _ -> report d "") m zoo)
    aligned, sw.Elapsed.TotalSeconds

let align (args: ParseResults<AlignArgs>) : int =
    let path = args.GetResult AlignArgs.Zoo
    let method = args.GetResult(AlignArgs.Method, Weight_Matching).Method
    let methodName = ZooAlignment.name method
    let json = args.Contains AlignArgs.Json
    let out = args.GetResult(AlignArgs.Out, Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), Path.GetFileNameWithoutExtension path + "-aligned.safetensors"))
    let zoo = Zoo.load path
    let aligned, seconds = alignZoo json (ZooAlignment.rebasin method zoo) zoo
    Zoo.save out (Zoo.withTheta zoo aligned)
    let reference = ZooAlignment.reference zoo
    let before, after = ZooAlignment.meanSquaredDistance reference zoo.Theta, ZooAlignment.meanSquaredDistance reference aligned
    if json then
        Render.json (dict [ "zoo", box path; "out", box out; "method", box methodName; "networks", box (Zoo.count zoo)
                            "reference_index", box ZooAlignment.referenceIndex; "seconds", box seconds
                            "mean_sq_distance_before", box before; "mean_sq_distance_after", box after ])
    else
        Render.table $"Aligned zoo written to {out}" [ "what"; "value" ]
            [ [ "method"; methodName ]
              [ "networks"; string (Zoo.count zoo) ]
              [ "reference"; $"checkpoint {ZooAlignment.referenceIndex} (run {zoo.Run[ZooAlignment.referenceIndex]}, step {zoo.Step[ZooAlignment.referenceIndex]})" ]
              [ "time"; $"%.2f{seconds} s" ]
              [ "mean ‖θ_ref − θ‖² before"; $"%.4f{before}" ]
              [ "mean ‖θ_ref − θ‖² after"; $"%.4f{after}" ] ]
    0

let barrier (args: ParseResults<BarrierArgs>) : int =
    let path = args.GetResult BarrierArgs.Zoo
    let pairs = args.GetResult(BarrierArgs.Pairs, 250)
    let points = args.GetResult(BarrierArgs.Points, 3)
    let seed = args.GetResult(BarrierArgs.Seed, 0)
    let json = args.Contains BarrierArgs.Json
    Check.arg "pairs" (pairs >= 1) $"--pairs must be at least 1; got {pairs}."
    let zoo = Zoo.load path
    let s = Barrier.summarize (Barrier.ofZoo pairs points (int64 seed) zoo)
    let rows = [ "midpoint loss L(½)", s.Midpoint
                 "endpoints' mean loss", s.Endpoints
                 "relative barrier L(½) − (L(0)+L(1))/2", s.Relative
                 "max barrier over the path", s.Maximum ]
    if json then
        Render.json (dict ([ "zoo", box path; "pairs", box pairs; "points", box points; "seed", box seed; "split", box "train" ]
                           @ [ for name, (m, s) in List.zip [ "midpoint"; "endpoints"; "relative"; "maximum" ] (List.map snd rows) do
                                 yield name + "_mean", box m
                                 yield name + "_std", box s ]))
    else
        Render.table $"Loss barriers: {pairs} random pairs of {Zoo.count zoo} checkpoints, {points} points, training split of {Task.name zoo.Task}"
            [ "cross-entropy"; "mean ± std" ] [ for name, (m, s) in rows -> [ name; Render.pm m s ] ]
    0

/// A zoo for the benchmark: the file if it exists, else synthetic trajectories of the same shape (R runs of T
/// checkpoints: a random initial network per run plus a Gaussian random walk), which costs alignment about the same.
let private benchZoo (files: string list) (layout: Layout) (runs: int) (perRun: int) : Zoo option * Tensor * string =
    match files |> List.tryFind File.Exists with
    | Some f ->
        let z = Zoo.load f
        Some z, z.Theta, Path.GetFileName f
    | None -> None, Bench.syntheticTrajectories 0L layout runs perRun, $"synthetic {runs}x{perRun}"

let bench (args: ParseResults<BenchTargetArgs>) : int =
    let json = args.Contains BenchTargetArgs.Json
    let quick = args.Contains BenchTargetArgs.Quick
    let proc = Process.GetCurrentProcess()
    let measure (f: unit -> Tensor) =
        proc.Refresh()
        let cpu0 = proc.TotalProcessorTime
        let sw = Stopwatch.StartNew()
        use r = f ()
        let wall = sw.Elapsed.TotalSeconds
        proc.Refresh()
        wall, (proc.TotalProcessorTime - cpu0).TotalSeconds
    let uciLayout, mnistLayout = Layout.parse "30-16-16-2", Layout.parse "784-10-10"
    let cases =
        [ "uci", uciLayout, [ "zoo-uci.safetensors"; Path.Combine("results", "run", "zoo-uci.safetensors") ], 100, 80, 60.0
          "mnist", mnistLayout, [ "zoo-mnist.safetensors" ], 50, 200, 300.0 ]
    let wm = Rebasin.WeightMatching Rebasin.defaultWeightMatching
    // Warm-up: first libtorch calls and JIT.
    let warm = Bench.syntheticTrajectories 1L uciLayout 1 64
    Rebasin.align wm uciLayout 64 (fun _ _ -> ()) (warm.narrow(0L, 0L, 1L)) warm |> ignore
    let rows =
        [ for name, layout, files, runs, perRun, target in cases do
            let _, theta, source = benchZoo files layout runs perRun
            let theta = if quick then theta.narrow(0L, 0L, min theta.shape[0] 1000L) else theta
            let n = int theta.shape[0]
            let reference = theta.narrow(0L, 0L, 1L)
            // Sinkhorn re-basin is left out: its cost is Steps × (forward + backward) per chunk, minutes for a whole
            // zoo; `weightflow align --method sinkhorn-*` reports its time.
            let methods = [ "wm / JV", wm, Some target ]
            for label, m, limit in methods do
                let wall, cpu = measure (fun () -> Rebasin.align m layout (ZooAlignment.chunkFor m) (fun _ _ -> ()) reference theta)
                yield name, source, n, label, wall, cpu, limit ]
    let threads = torch.get_num_threads ()
    let verdict (wall: float) (limit: float option) =
        match limit with Some l -> (if wall <= l then $"<= {l} s ok" else $"> {l} s FAIL") | None -> ""
    if json then
        Render.json
            [| for zooName, source, n, label, wall, cpu, limit in rows ->
                dict [ "zoo", box zooName; "source", box source; "networks", box n; "method", box label
                       "wall_seconds", box wall; "cpu_seconds", box cpu; "ms_per_network", box (1000.0 * wall / float n)
                       "threads", box threads; "target_seconds", box (Option.toNullable limit) ] |]
    else
        Render.table $"Alignment to the first checkpoint, weight matching (wm), Jonker–Volgenant assignment ({threads} threads)"
            [ "zoo"; "source"; "networks"; "method"; "wall s"; "cpu s"; "ms/net"; "target" ]
            [ for zooName, source, n, label, wall, cpu, limit in rows ->
                [ zooName; source; string n; label; $"%.2f{wall}"; $"%.2f{cpu}"; $"%.3f{1000.0 * wall / float n}"; verdict wall limit ] ]
    0
