module WeightFlow.Tests.TestFacade

open System
open System.Threading
open Expecto
open WeightFlow.CSharp

type private Collect() =
    let items = Collections.Concurrent.ConcurrentQueue<ZooTrainingProgress>()
    member _.Items = items
    interface IProgress<ZooTrainingProgress> with
        member _.Report p = items.Enqueue p

[<Tests>]
let tests =
    testList "Facade" [
        test "WeightZoo.TrainAsync trains, reports progress, saves and loads" {
            let progress = Collect()
            use zoo = WeightZoo.TrainAsync(ZooOptions(Task = "uci", Runs = Nullable 3, Epochs = Nullable 3), progress, CancellationToken.None).Result
            Expect.equal zoo.Layout "30-16-16-2" "thesis layout"
            // 455 training rows, batch 64: 8 iterations per epoch; drop min(10, epochs - 1) = 2 epochs; every 4.
            Expect.equal zoo.Count (3 * 2) "2 checkpoints per run in the one recorded epoch"
            Expect.equal (Seq.last progress.Items).Iteration 24 "progress reaches the last iteration"
            Expect.equal (zoo.Weights 0).Length 802 "flat weights"
            let path = IO.Path.Combine(IO.Path.GetTempPath(), $"wf-facade-{Guid.NewGuid():N}.safetensors")
            zoo.Save path
            use back = WeightZoo.Load path
            Expect.equal (back.Weights 5) (zoo.Weights 5) "reloaded weights"
            IO.File.Delete path
        }
        test "WeightFlowMainJob.RunAsync runs the core's main job and reports its stages" {
            let dir = IO.Path.Combine(IO.Path.GetTempPath(), $"wf-facade-job-{Guid.NewGuid():N}")
            try
                let stages = Collections.Concurrent.ConcurrentQueue<string>()
                let progress = { new IProgress<MainJobProgress> with member _.Report p = stages.Enqueue p.Stage }
                let r = WeightFlowMainJob.RunAsync(MainJobOptions(OutDir = dir, Runs = Nullable 3, Epochs = Nullable 3, Pairs = 10, Flows = false), progress, CancellationToken.None).Result
                Expect.isTrue (IO.File.Exists r.AlignedZooPath) "the aligned zoo is written"
                Expect.equal (stages |> Seq.distinct |> List.ofSeq) [ "zoo"; "align"; "barriers" ] "every stage reports"
                Expect.isTrue (r.MidpointLossUnaligned > 0.0 && r.MidpointLossAligned > 0.0) "losses are positive"
            finally
                if IO.Directory.Exists dir then IO.Directory.Delete(dir, true)
        }
        test "options are validated with the property's name" {
            let e = Expect.throwsC (fun () -> ZooOptions(Runs = Nullable 0).Validate()) id
            Expect.stringContains e.Message "Runs" "names the property"
        }
        test "cancellation stops training" {
            use cts = new CancellationTokenSource()
            cts.Cancel()
            let t = WeightZoo.TrainAsync(ZooOptions(Runs = Nullable 2), null, cts.Token)
            Expect.throws (fun () -> t.Wait()) "a cancelled token cancels the task"
        }
    ]
