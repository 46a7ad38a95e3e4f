/// `weightflow bench model`: one training iteration of the velocity model (forward + backward + Adam), sparse vs
/// dense, for the thesis' UCI and MNIST settings, with peak memory and achieved GFLOP/s against this machine's
/// measured float32 matmul peak.
module WeightFlow.Cli.ModelCommands

open System
open System.Diagnostics
open System.IO
open Argu
open TorchSharp
open WeightFlow
open WeightFlow.Cli.Args

module RT = RelationalTransformer

/// Peak resident set size of this process in bytes (VmHWM of /proc/self/status), or -1 where unavailable.
let private peakRss () =
    try
        File.ReadAllLines "/proc/self/status"
        |> Array.tryFind (fun l -> l.StartsWith "VmHWM:")
        |> Option.map (fun l -> int64 (l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024L)
        |> Option.defaultValue -1L
    with _ -> -1L

/// Resets VmHWM to the current RSS (Linux: writing 5 to /proc/self/clear_refs), so each setting's peak is its own.
let private resetPeakRss () =
    try File.WriteAllText("/proc/self/clear_refs", "5"); true with _ -> false

type private Setting = { Task: string; Layout: string; Width: int; Batch: int; Neighbourhood: RT.Neighbourhood; Warmup: int; Iterations: int }

type private Measured =
    { Setting: Setting
      /// The mean over the measured iterations (the figure the targets use) and its spread.
      SecondsPerIteration: float
      MedianSeconds: float
      MinSeconds: float
      MaxSeconds: float
      SecondsPerSample: float; PeakRssBytes: int64; ModelParameters: int64
      ForwardGflop: float }

let private run (s: Setting) : Measured =
    let reset = resetPeakRss ()
    let r = Bench.rig (Layout.parse s.Layout) s.Width s.Batch s.Neighbourhood
    for _ in 1 .. s.Warmup do r.Step() |> ignore
    let each = [| for _ in 1 .. s.Iterations -> (let sw = Stopwatch.StartNew() in r.Step() |> ignore; sw.Elapsed.TotalSeconds) |]
    let seconds = Array.average each
    let sorted = Array.sort each
    let median = if sorted.Length % 2 = 1 then sorted[sorted.Length / 2] else (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2.0
    let peak = if reset then peakRss () else -1L
    let result =
        { Setting = s; SecondsPerIteration = seconds; MedianSeconds = median; MinSeconds = sorted[0]; MaxSeconds = Array.last sorted
          SecondsPerSample = seconds / float s.Batch; PeakRssBytes = peak
          ModelParameters = r.Parameters; ForwardGflop = RT.flops r.Config r.Graph s.Batch / 1e9 }
    r.Dispose()
    result

/// Profiling mode (WEIGHTFLOW_PROFILE=uci|mnist|both, WEIGHTFLOW_PROFILE_ITERS=n, default 5, WEIGHTFLOW_PROFILE_BATCH=b
/// to change the batch size): the sparse settings only, with this process's CPU time per iteration (all threads: on a
/// shared machine wall time is noisy, CPU time much less so), for the forward pass alone and for forward + backward +
/// Adam.
let private profile (which: string) =
    let iters = match Int32.TryParse(Environment.GetEnvironmentVariable "WEIGHTFLOW_PROFILE_ITERS") with | true, n when n >= 1 -> n | _ -> 5
    let proc = Process.GetCurrentProcess()
    let cpu () = proc.Refresh(); proc.TotalProcessorTime.TotalSeconds
    let batchOverride = match Int32.TryParse(Environment.GetEnvironmentVariable "WEIGHTFLOW_PROFILE_BATCH") with | true, n when n >= 1 -> Some n | _ -> None
    for task, layoutText, width, batch in [ "uci", "30-16-16-2", 64, 32; "mnist", "784-10-10", 32, 8 ] do
        let batch = defaultArg batchOverride batch
        if which = "both" || which = task then
            let r = Bench.rig (Layout.parse layoutText) width batch RT.Sparse
            let mutable lastLoss = nan
            let measure f =
                f ()
                let c0, sw = cpu (), Stopwatch.StartNew()
                for _ in 1 .. iters do f ()
                (cpu () - c0) / float iters, sw.Elapsed.TotalSeconds / float iters
            let fc, fw = measure r.Forward
            let sc, sw = measure (fun () -> lastLoss <- r.Step())
            printfn $"{task} sparse d={width} batch {batch}, {torch.get_num_threads ()} threads, {iters} iterations: forward (no grad) CPU %.3f{fc} s wall %.3f{fw} s; train step CPU %.3f{sc} s wall %.3f{sw} s; loss after %.6f{lastLoss}; peak RSS %.0f{float (peakRss ()) / 1048576.0} MB"
            r.Dispose()

let private benchAll (args: ParseResults<BenchTargetArgs>) : int =
    let json = args.Contains BenchTargetArgs.Json
    let quick = args.Contains Quick
    let threads = torch.get_num_threads ()
    // the OpenMP spin-wait setting decides the cost of each small parallel operation (Engine.fs), so it is reported
    let spin = Engine.openMpWaitPolicy ()
    let peak = Bench.matmulPeak (if quick then 2 else 5)
    let it n = if quick then max 1 (n / 3) else n
    let settings =
        // Training runs for thousands of steps, so the sparse settings are timed in the steady state: 3 warm-up
        // iterations (the process heap grows to its working size and the .NET JIT settles in the first few), then 20.
        [ { Task = "uci"; Layout = "30-16-16-2"; Width = 64; Batch = 32; Neighbourhood = RT.Sparse; Warmup = 3; Iterations = it 20 }
          { Task = "mnist"; Layout = "784-10-10"; Width = 32; Batch = 8; Neighbourhood = RT.Sparse; Warmup = 3; Iterations = it 20 }
          { Task = "uci"; Layout = "30-16-16-2"; Width = 64; Batch = 32; Neighbourhood = RT.Dense; Warmup = 1; Iterations = it 2 }
          // The dense MNIST model holds ~N² = 646k pair rows per layer; batch 8 does not fit a small machine (the
          // issue's PyTorch measurement), so it is measured at batch 1 and compared per sample.
          { Task = "mnist"; Layout = "784-10-10"; Width = 32; Batch = 1; Neighbourhood = RT.Dense; Warmup = (if quick then 0 else 1); Iterations = 1 } ]
    let results = settings |> List.map run
    let find task n = results |> List.find (fun r -> r.Setting.Task = task && r.Setting.Neighbourhood = n)
    let mnistSpeedup = (find "mnist" RT.Dense).SecondsPerSample / (find "mnist" RT.Sparse).SecondsPerSample
    let uciSpeedup = (find "uci" RT.Dense).SecondsPerSample / (find "uci" RT.Sparse).SecondsPerSample
    // forward + backward ≈ 3 forward passes of matmul work (the backward computes two products per forward one)
    let gflops (r: Measured) = 3.0 * r.ForwardGflop / r.SecondsPerIteration
    let mb (b: int64) = if b < 0L then nan else float b / 1048576.0
    let name (r: Measured) = $"{r.Setting.Task} {r.Setting.Layout} d={r.Setting.Width} {r.Setting.Neighbourhood}".ToLowerInvariant()
    let mnistSparse, uciSparse = find "mnist" RT.Sparse, find "uci" RT.Sparse
    let targets =
        [ "sparse MNIST iteration (batch 8) <= 1.0 s", mnistSparse.SecondsPerIteration <= 1.0
          "sparse MNIST >= 50x faster per sample than dense", mnistSpeedup >= 50.0
          "sparse UCI iteration (batch 32) <= 0.8 s", uciSparse.SecondsPerIteration <= 0.8
          "sparse MNIST training peak RSS <= 2 GB", mnistSparse.PeakRssBytes >= 0L && mnistSparse.PeakRssBytes <= 2L * 1024L * 1024L * 1024L ]
    if json then
        Render.json
            {| threads = threads
               openMpWaitPolicy = spin
               matmulPeakGflops = peak
               peakRssMethod = "VmHWM from /proc/self/status, reset before each setting by writing 5 to /proc/self/clear_refs"
               settings =
                 [ for r in results ->
                     {| task = r.Setting.Task; layout = r.Setting.Layout; width = r.Setting.Width; layers = 5
                        batch = r.Setting.Batch; neighbourhood = (string r.Setting.Neighbourhood).ToLowerInvariant()
                        warmup = r.Setting.Warmup; iterations = r.Setting.Iterations; secondsPerIteration = r.SecondsPerIteration
                        medianSecondsPerIteration = r.MedianSeconds; minSecondsPerIteration = r.MinSeconds
                        maxSecondsPerIteration = r.MaxSeconds
                        secondsPerSample = r.SecondsPerSample; peakRssMB = mb r.PeakRssBytes
                        parameters = r.ModelParameters; forwardGflop = r.ForwardGflop; achievedGflops = gflops r
                        fractionOfMatmulPeak = gflops r / peak |} ]
               mnistDenseOverSparsePerSample = mnistSpeedup
               uciDenseOverSparsePerSample = uciSpeedup
               targets = [ for n, ok in targets -> {| target = n; met = ok |} ] |}
    else
        Render.table $"Velocity model: one training iteration (forward + backward + Adam), {threads} threads, {spin}; matmul peak %.1f{peak} GFLOP/s; sparse: mean of {settings.Head.Iterations} iterations after {settings.Head.Warmup} warm-up"
            [ "setting"; "batch"; "s / iteration: mean (median; min-max)"; "ms / sample"; "peak RSS MB"; "GFLOP/s"; "of peak" ]
            [ for r in results ->
                [ name r; string r.Setting.Batch
                  $"%.3f{r.SecondsPerIteration} (%.3f{r.MedianSeconds}; %.2f{r.MinSeconds}-%.2f{r.MaxSeconds})"
                  $"%.1f{1000.0 * r.SecondsPerSample}"
                  $"%.0f{mb r.PeakRssBytes}"; $"%.1f{gflops r}"; $"%.1f{100.0 * gflops r / peak}%%" ] ]
        Render.table "Targets" [ "target"; "met" ]
            ([ for n, ok in targets -> [ n; (if ok then "yes" else "NO") ] ]
             @ [ [ $"MNIST dense / sparse time per sample: %.0f{mnistSpeedup}x; UCI: %.1f{uciSpeedup}x"; "" ] ])
    0

let bench (args: ParseResults<BenchTargetArgs>) : int =
    match Environment.GetEnvironmentVariable "WEIGHTFLOW_PROFILE" with
    | null | "" -> benchAll args
    | which -> profile which; 0
