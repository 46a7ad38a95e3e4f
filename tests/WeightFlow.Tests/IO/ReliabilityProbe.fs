/// Child processes for the durability tests (TestDurability): this test program run as
/// `--reliability-probe flow|zoo|write ARGS`, so that a test can kill it with SIGKILL at a random moment or run it
/// under a file-size limit. One intra-op thread, so that every run of a probe computes bit-identical numbers.
module WeightFlow.Tests.ReliabilityProbe

open System
open System.Globalization
open System.IO
open System.Threading
open TorchSharp
open WeightFlow

let flowLayout = Layout.parse "4-8-2"

/// The flow training the kill test interrupts: a small MLP velocity model, a checkpoint after every step.
let flowConfig =
    { TrainingConfig.cpu Euclidean VelocityKind.Mlp with
        Model = VelocityConfig.defaults VelocityKind.Mlp 32 1
        Iterations = 150; BatchSize = 8; CheckpointEvery = 1; Schedule = Constant; Seed = 4L }

let flowTargets () =
    use g = Scope.Rng.create 9L
    torch.randn([| 24L; int64 (Layout.paramCount flowLayout) |], generator = g).mul(scalar 0.3)

/// The zoo training the kill test interrupts: the state saved after every epoch.
let zooConfig = { TestZoo.smallConfig with Epochs = 40; Runs = 3 }

/// The main job the kill test interrupts: TestMainJob's tiny job with every stage (6 runs x 3 epochs, the preset's
/// four flows at 4 iterations, 6 samples of 4 steps each).
let jobConfig (dir: string) =
    let c = MainJobConfig.uci 0L dir
    { c with
        Zoo = { ZooConfig.uci with Runs = 6; Epochs = 3; DropEpochs = 1 }; Pairs = 10; HeldOutRuns = 2
        Flows = c.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 4; BatchSize = 8; Schedule = Constant; CheckpointEvery = 1 } })
        Sampling = { c.Sampling with Count = 6; Steps = 4 } }

let private inv (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

let run (args: string[]) : int =
    torch.set_num_threads 1
    try
        match args with
        | [| "flow"; checkpoint; out |] ->
            use targets = flowTargets ()
            let result =
                Training.train flowConfig flowLayout targets (Some checkpoint)
                    (fun p -> Console.Out.WriteLine $"step {p.Step}"; Console.Out.Flush()) CancellationToken.None
            Storage.writeTextAtomic out (String.Join("\n", result.Losses |> Array.map inv))
            0
        | [| "zoo"; state; out |] ->
            let data = TestZoo.blobs 1L
            let mutable epoch = -1
            let zoo =
                Zoo.trainResumable { Path = state; MinInterval = TimeSpan.Zero } zooConfig TestZoo.blobsTask data
                    (fun p -> if p.Epoch <> epoch then (epoch <- p.Epoch; Console.Out.WriteLine $"epoch {p.Epoch}"; Console.Out.Flush()))
                    CancellationToken.None
            Zoo.save out zoo
            0
        | [| "job"; dir |] ->
            let mutable n = 0
            MainJob.run (jobConfig dir) (fun _ -> n <- n + 1; Console.Out.WriteLine $"progress {n}"; Console.Out.Flush()) CancellationToken.None |> ignore
            0
        | [| "write"; path; mib |] ->
            // a checkpoint-sized file of `mib` MiB written over `path`
            use t = torch.ones([| int64 (int mib) * 262144L |])
            Storage.write path (Map.ofList [ "weightflow.kind", "probe" ]) [ "t", t ]
            0
        | _ ->
            eprintfn "usage: --reliability-probe flow CHECKPOINT OUT | zoo STATE OUT | write PATH MIB"
            64
    with e ->
        match Check.classify e with
        | Some(kind, msg) ->
            eprintfn $"error: {Check.ErrorKind.text kind}: {msg}"
            match kind with Check.ErrorKind.WriteFailed -> 6 | Check.ErrorKind.Busy -> 7 | _ -> 3
        | None ->
            eprintfn $"unexpected: {e}"
            70

/// A type of this module, to find its assembly.
type Marker = Marker
