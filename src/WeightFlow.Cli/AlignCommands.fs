/// `weightflow align`, `weightflow barrier`, `weightflow bench align` (issue 3).
module WeightFlow.Cli.AlignCommands

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

/// Minibatch of the Sinkhorn data objectives (Mid, Rnd): the anchors' loader batch is 64; 128 halves the gradient
/// noise at little cost for these small MLPs.
let private sinkhornBatch = 128

/// Networks per chunk: weight matching holds only [chunk, h, h] scores; Sinkhorn holds an autograd graph per chunk.
let private chunkFor (m: Rebasin.Method) = match m with Rebasin.WeightMatching _ -> 16384 | Rebasin.Sinkhorn _ -> 4096

/// The method named on the command line. The data objectives read the zoo's own task data (its training split).
let private methodOf (name: string) (zoo: Zoo) : Rebasin.Method =
    let dataLoss () =
        let data = Sources.load zoo.Task zoo.Config.Seed
        Rebasin.crossEntropyLoss zoo.Layout data.Train.X data.Train.Y sinkhornBatch zoo.Config.Seed
    match name.Trim().ToLowerInvariant() with
    | "weight-matching" | "wm" -> Rebasin.WeightMatching Rebasin.defaultWeightMatching
    | "sinkhorn-l2" -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn Rebasin.L2)
    | "sinkhorn-mid" -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn (Rebasin.Midpoint (dataLoss ())))
    | "sinkhorn-rnd" -> Rebasin.Sinkhorn (Rebasin.defaultSinkhorn (Rebasin.RandomPoint (dataLoss ())))
    | m -> invalidArg "method" $"Unknown alignment method '{m}'; use weight-matching, sinkhorn-l2, sinkhorn-mid or sinkhorn-rnd."

/// The reference network: the zoo's first stored checkpoint, as in the anchor code (`align_to_ref` aligns to
/// `wsos[0]`, the first checkpoint of run 0 after the dropped epochs; anchors §7). Any fixed member works; the first
/// one makes the choice independent of the zoo's size and needs no extra pass.
let referenceIndex = 0

/// Mean squared distance ‖θ_ref − θ‖² over the zoo.
let private meanSquaredDistance (reference: Tensor) (theta: Tensor) =
    Scope.value (fun () -> (theta - reference).square().sum(1L).mean().ToDouble())

/// Aligns a zoo's checkpoints to its reference; returns the aligned weights and the wall-clock seconds.
let alignZoo (quiet: bool) (m: Rebasin.Method) (zoo: Zoo) : Tensor * float =
    let n = Zoo.count zoo
    let reference = zoo.Theta.narrow(0L, int64 referenceIndex, 1L)
    let sw = Stopwatch.StartNew()
    let aligned =
        Render.progress quiet $"align {n} networks" n (fun report ->
            Rebasin.align m zoo.Layout (chunkFor m) (fun d _ -> report d "") reference zoo.Theta)
    aligned, sw.Elapsed.TotalSeconds

let align (args: ParseResults<AlignArgs>) : int =
    let path = args.GetResult AlignArgs.Zoo
    let methodName = args.GetResult(AlignArgs.Method, "weight-matching")
    let json = args.Contains AlignArgs.Json
    let out = args.GetResult(AlignArgs.Out, Path.Combine(Path.GetDirectoryName(Path.GetFullPath path), Path.GetFileNameWithoutExtension path + "-aligned.safetensors"))
    let zoo = Zoo.load path
    let m = methodOf methodName zoo
    let aligned, seconds = alignZoo json m zoo
    Zoo.save out (Zoo.withTheta zoo aligned)
    let reference = zoo.Theta.narrow(0L, int64 referenceIndex, 1L)
    let before, after = meanSquaredDistance reference zoo.Theta, meanSquaredDistance reference aligned
    if json then
        Render.json (dict [ "zoo", box path; "out", box out; "method", box methodName; "networks", box (Zoo.count zoo)
                            "reference_index", box referenceIndex; "seconds", box seconds
                            "mean_sq_distance_before", box before; "mean_sq_distance_after", box after ])
    else
        Render.table $"Aligned zoo written to {out}" [ "what"; "value" ]
            [ [ "method"; methodName ]
              [ "networks"; string (Zoo.count zoo) ]
              [ "reference"; $"checkpoint {referenceIndex} (run {zoo.Run[referenceIndex]}, step {zoo.Step[referenceIndex]})" ]
              [ "time"; $"%.2f{seconds} s" ]
              [ "mean ‖θ_ref − θ‖² before"; $"%.4f{before}" ]
              [ "mean ‖θ_ref − θ‖² after"; $"%.4f{after}" ] ]
    0

/// `pairs` random pairs of distinct checkpoints (i ≠ j), drawn with a seeded generator, as two index arrays.
let randomPairs (n: int) (pairs: int) (seed: int) : int[] * int[] =
    if n < 2 then invalidArg "zoo" $"A barrier needs at least two checkpoints; the zoo has {n}."
    let rng = Random(seed)
    let a = Array.init pairs (fun _ -> rng.Next n)
    // j uniform over the other n − 1 checkpoints.
    let b = a |> Array.map (fun i -> let j = rng.Next(n - 1) in if j >= i then j + 1 else j)
    a, b

/// Cross-entropy barriers of random pairs of a zoo's checkpoints, on the training split of the zoo's task. The
/// training split is the one whose absolute midpoint loss reproduces the thesis' Fig. 7.2 numbers on UCI.
let zooBarriers (zoo: Zoo) (pairs: int) (points: int) (seed: int) : Barrier.Barriers =
    let data = Sources.load zoo.Task zoo.Config.Seed
    let ia, ib = randomPairs (Zoo.count zoo) pairs seed
    use a = zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device ia)
    use b = zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device ib)
    Barrier.crossEntropy zoo.Layout points data.Train.X data.Train.Y a b

let private meanStd (t: Tensor) = t.mean().ToDouble(), (if t.numel() > 1L then t.std().ToDouble() else 0.0)

let barrier (args: ParseResults<BarrierArgs>) : int =
    let path = args.GetResult BarrierArgs.Zoo
    let pairs = args.GetResult(BarrierArgs.Pairs, 250)
    let points = args.GetResult(BarrierArgs.Points, 3)
    let seed = args.GetResult(BarrierArgs.Seed, 0)
    let json = args.Contains BarrierArgs.Json
    Check.arg "pairs" (pairs >= 1) $"--pairs must be at least 1; got {pairs}."
    let zoo = Zoo.load path
    let r = zooBarriers zoo pairs points seed
    let ends = (r.Losses.select(1L, 0L) + r.Losses.select(1L, int64 points - 1L)) * 0.5
    let rows = [ "midpoint loss L(½)", meanStd r.Midpoint
                 "endpoints' mean loss", meanStd ends
                 "relative barrier L(½) − (L(0)+L(1))/2", meanStd r.Relative
                 "max barrier over the path", meanStd r.Maximum ]
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
    | None ->
        use g = Scope.Rng.create 0L
        let p = int64 (Layout.paramCount layout)
        use start = torch.randn([| int64 runs; 1L; p |], generator = g).mul(scalar 0.3)
        use steps = torch.randn([| int64 runs; int64 perRun; p |], generator = g).mul(scalar 0.01)
        None, (start + steps.cumsum(1L)).reshape(-1L, p), $"synthetic {runs}x{perRun}"

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
    let wmOrTools = Rebasin.WeightMatching { Rebasin.defaultWeightMatching with Solver = Assignment.OrTools }
    // Warm-up: first libtorch calls and JIT.
    let warm = torch.randn([| 64L; int64 (Layout.paramCount uciLayout) |])
    Rebasin.align wm uciLayout 64 (fun _ _ -> ()) (warm.narrow(0L, 0L, 1L)) warm |> ignore
    let rows =
        [ for name, layout, files, runs, perRun, target in cases do
            let _, theta, source = benchZoo files layout runs perRun
            let theta = if quick then theta.narrow(0L, 0L, min theta.shape[0] 1000L) else theta
            let n = int theta.shape[0]
            let reference = theta.narrow(0L, 0L, 1L)
            // Sinkhorn re-basin is left out: its cost is Steps × (forward + backward) per chunk, minutes for a whole
            // zoo; `weightflow align --method sinkhorn-*` reports its time.
            let methods =
                [ "wm / JV", wm, Some target
                  "wm / OR-Tools", wmOrTools, None ]
            for label, m, limit in methods do
                let wall, cpu = measure (fun () -> Rebasin.align m layout (chunkFor m) (fun _ _ -> ()) reference theta)
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
        Render.table $"Alignment to the first checkpoint, weight matching (wm) with two assignment solvers ({threads} threads)"
            [ "zoo"; "source"; "networks"; "method"; "wall s"; "cpu s"; "ms/net"; "target" ]
            [ for zooName, source, n, label, wall, cpu, limit in rows ->
                [ zooName; source; string n; label; $"%.2f{wall}"; $"%.2f{cpu}"; $"%.3f{1000.0 * wall / float n}"; verdict wall limit ] ]
    0
