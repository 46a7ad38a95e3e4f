module WeightFlow.Tests.TestMainJob

open System.IO
open System.Threading
open Expecto
open WeightFlow
open WeightFlow.Tests

/// A small main job on the embedded UCI data: 4 runs x 3 epochs, 20 pairs.
let private small (dir: string) =
    { MainJobConfig.uci 0L dir with Zoo = { ZooConfig.uci with Runs = 4; Epochs = 3; DropEpochs = 1 }; Pairs = 20 }

[<Tests>]
let tests =
    testList "MainJob" [
        test "the stages write their files, and a second run reads them back unchanged" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-job-{System.Guid.NewGuid():N}")
            try
                let c = small dir
                let stages = ResizeArray()
                let first = MainJob.run c (fun p -> stages.Add p.Stage) CancellationToken.None
                Expect.isEmpty first.Reused "a fresh folder computes every stage"
                Expect.equal (stages |> Seq.distinct |> List.ofSeq) [ TrainZoo; AlignZoo; MeasureBarriers ] "progress from every stage, in order"
                for f in [ first.ZooPath; first.AlignedPath; first.BarriersPath ] do Expect.isTrue (File.Exists f) f
                Expect.isFalse (File.Exists(first.ZooPath + ".training-state")) "the training state is gone once the zoo is saved"
                let second = MainJob.run c ignore CancellationToken.None
                Expect.equal second.Reused [ TrainZoo; AlignZoo; MeasureBarriers ] "everything reused"
                Expect.isNone second.TrainingSeconds "no training the second time"
                Expect.bitExact second.Aligned.Theta first.Aligned.Theta "aligned zoo"
                Expect.bitExact second.After.Relative first.After.Relative "barriers"
                // Another pair count changes only the barrier stage's key.
                let third = MainJob.run { c with Pairs = 10 } ignore CancellationToken.None
                Expect.equal third.Reused [ TrainZoo; AlignZoo ] "barriers recomputed for 10 pairs"
                Expect.equal third.After.Relative.shape [| 10L |] "10 pairs"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
