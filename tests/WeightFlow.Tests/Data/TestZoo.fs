module WeightFlow.Tests.TestZoo

open System.Threading
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// A linearly separable 2-class problem with 4 features (300 rows), split 80/10/10.
let blobs (seed: int64) =
    use g = Scope.Rng.create seed
    let x = torch.randn([| 300L; 4L |], generator = g)
    let y = (x.select(1L, 0L) + x.select(1L, 1L)).gt(scalar 0.0).to_type(torch.int64)
    Dataset.split "blobs" 2 seed Dataset.defaultFractions x y

/// The task recorded for the in-memory blobs data.
let blobsTask = Task.Custom "blobs"

let smallConfig =
    { ZooConfig.uci with
        Layout = Layout.parse "4-8-2"; Runs = 4; Epochs = 6
        Optimizer = Adam { LearningRate = 0.02; Beta1 = 0.9; Beta2 = 0.999; Eps = 1e-8; WeightDecay = 0.0 }
        BatchSize = 32; DropEpochs = 0; Every = 1; Seed = 3L }

[<Tests>]
let tests =
    testList "Zoo" [
        test "every run's loss falls and the zoo records what the config says" {
            let data = blobs 1L
            let zoo = Zoo.train smallConfig blobsTask data ignore CancellationToken.None
            let perEpoch = (240 + 31) / 32
            Expect.equal (Zoo.count zoo) (4 * perEpoch * 6) "one checkpoint per run per iteration"
            Expect.equal (T.shape zoo.Theta) [| Zoo.count zoo; Layout.paramCount smallConfig.Layout |] "theta [N, P]"
            for r in 0 .. 3 do
                let mine = [| 0 .. Zoo.count zoo - 1 |] |> Array.filter (fun i -> zoo.Run[i] = r)
                let first, last = zoo.TestLoss[Array.head mine], zoo.TestLoss[Array.last mine]
                Expect.isLessThan last (0.5f * first) $"run {r}: test loss {first} -> {last} at least halves"
        }
        test "SGD runs lose loss too, and DropEpochs/Every thin the checkpoints" {
            let data = blobs 2L
            let c = { smallConfig with Optimizer = Sgd { LearningRate = 0.1; Momentum = 0.9; WeightDecay = 1e-5 }; DropEpochs = 2; Every = 4 }
            let zoo = Zoo.train c blobsTask data ignore CancellationToken.None
            Expect.all zoo.Epoch (fun e -> e >= 2) "no checkpoint in the dropped epochs"
            Expect.all zoo.Step (fun s -> s % 4 = 0) "every 4th iteration"
            let finals = Zoo.finalIndices zoo
            Expect.equal finals.Length 4 "one final checkpoint per run"
            Expect.all finals (fun i -> zoo.TestAccuracy[i] >= 0.9f) "separable data: final accuracy >= 0.9"
        }
        test "a batch of runs trains exactly like the same runs one at a time" {
            let data = blobs 3L
            let c = { smallConfig with Epochs = 2 }
            let batched = Zoo.train c blobsTask data ignore CancellationToken.None
            let single = Zoo.concat [ for r in 0 .. 3 -> Zoo.trainRuns c blobsTask data [| r |] ignore CancellationToken.None ]
            // Order differs (batched interleaves runs per step); compare run by run. Tolerance: the same float32
            // operations in a different batch layout; 2 epochs of Adam keep differences at summation-order level.
            for r in 0 .. 3 do
                let pick (z: Zoo) = torch.tensor([| for i in 0 .. Zoo.count z - 1 do if z.Run[i] = r then int64 i |])
                Expect.allClose 1e-5 (batched.Theta.index_select(0L, pick batched)) (single.Theta.index_select(0L, pick single)) $"run {r}"
        }
        test "a wrong layout for the data is refused with a clear message" {
            let data = blobs 4L
            let e = Expect.throwsC (fun () -> Zoo.train { smallConfig with Layout = Layout.parse "5-8-2" } blobsTask data ignore CancellationToken.None |> ignore) id
            Expect.stringContains e.Message "4 features" "names the data's width"
        }
        test "a saved zoo reloads bit-exact" {
            let zoo = Zoo.train { smallConfig with Epochs = 1 } blobsTask (blobs 5L) ignore CancellationToken.None
            let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"wf-zoo-{System.Guid.NewGuid():N}.safetensors")
            Zoo.save path zoo
            let back = Zoo.load path
            Expect.bitExact back.Theta zoo.Theta "theta"
            Expect.equal back.Run zoo.Run "runs"
            Expect.equal back.Step zoo.Step "steps"
            Expect.equal back.TestAccuracy zoo.TestAccuracy "accuracies"
            Expect.equal back.Config zoo.Config "config"
            Expect.equal back.Task blobsTask "task"
            System.IO.File.Delete path
        }
        test "a truncated zoo file gives one clear error" {
            let zoo = Zoo.train { smallConfig with Epochs = 1 } blobsTask (blobs 6L) ignore CancellationToken.None
            let path = System.IO.Path.GetTempFileName()
            Zoo.save path zoo
            let bytes = System.IO.File.ReadAllBytes path
            System.IO.File.WriteAllBytes(path, bytes[.. bytes.Length - 100])
            let e = Expect.throwsC (fun () -> Zoo.load path |> ignore) id
            Expect.isTrue (match e with Check.WeightFlowError _ -> true | _ -> false) "typed error"
            Expect.stringContains e.Message "truncated or corrupt" "says what is wrong"
            System.IO.File.Delete path
        }
        test "a zoo whose layout does not match its weights is refused" {
            let zoo = Zoo.train { smallConfig with Epochs = 1 } blobsTask (blobs 7L) ignore CancellationToken.None
            let path = System.IO.Path.GetTempFileName()
            Zoo.save path { zoo with Config = { zoo.Config with Layout = Layout.parse "4-9-2" } }
            let e = Expect.throwsC (fun () -> Zoo.load path |> ignore) id
            Expect.stringContains e.Message "4-9-2" "names the layout"
            System.IO.File.Delete path
        }
        test "a zoo with NaN weights is refused with a clear message" {
            let zoo = Zoo.train { smallConfig with Epochs = 1 } blobsTask (blobs 8L) ignore CancellationToken.None
            let path = System.IO.Path.GetTempFileName()
            let theta = zoo.Theta.clone()
            theta[0L, 3L] <- torch.tensor(nan)
            Zoo.save path (Zoo.withTheta zoo theta)
            let e = Expect.throwsC (fun () -> Zoo.load path |> ignore) id
            Expect.stringContains e.Message "NaN" "names the problem"
            System.IO.File.Delete path
        }
        test "training killed after an epoch resumes from its state file and ends bit-identical" {
            let data = blobs 9L
            for c in [ { smallConfig with Epochs = 4; Every = 3 }
                       { smallConfig with Epochs = 4; Every = 3; Optimizer = Sgd { LearningRate = 0.1; Momentum = 0.9; WeightDecay = 1e-4 } } ] do
                let straight = Zoo.train c blobsTask data ignore CancellationToken.None
                let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"wf-state-{System.Guid.NewGuid():N}.safetensors")
                let state = { Path = path; MinInterval = System.TimeSpan.Zero }
                use cts = new CancellationTokenSource()
                // "Kill" the run in the middle of epoch 3 (after the state of epoch 2 was written).
                let interrupt (p: ZooProgress) = if p.Epoch = 2 && p.Iteration % 8 = 3 then cts.Cancel()
                Expect.throwsT<System.OperationCanceledException> (fun () -> Zoo.trainResumable state c blobsTask data interrupt cts.Token |> ignore) "interrupted"
                Expect.isTrue (System.IO.File.Exists path) "a state file survives the interruption"
                let resumed = Zoo.trainResumable state c blobsTask data ignore CancellationToken.None
                Expect.bitExact resumed.Theta straight.Theta "same checkpoints as an uninterrupted run"
                Expect.equal resumed.Step straight.Step "same steps"
                Expect.equal resumed.TestLoss straight.TestLoss "same recorded losses"
                Expect.isFalse (System.IO.File.Exists path) "the state file is removed on success"
        }
        test "a state file of another training is refused" {
            let data = blobs 10L
            let c = { smallConfig with Epochs = 3 }
            let path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"wf-state-{System.Guid.NewGuid():N}.safetensors")
            let state = { Path = path; MinInterval = System.TimeSpan.Zero }
            use cts = new CancellationTokenSource()
            let interrupt (p: ZooProgress) = if p.Epoch = 1 then cts.Cancel()
            Expect.throwsT<System.OperationCanceledException> (fun () -> Zoo.trainResumable state c blobsTask data interrupt cts.Token |> ignore) "interrupted"
            let e = Expect.throwsC (fun () -> Zoo.trainResumable state { c with Seed = 99L } blobsTask data ignore CancellationToken.None |> ignore) id
            Expect.stringContains e.Message "Delete it" "says how to fix it"
            System.IO.File.Delete path
        }
    ]
