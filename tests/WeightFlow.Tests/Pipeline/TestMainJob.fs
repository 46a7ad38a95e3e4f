module WeightFlow.Tests.TestMainJob

open System.IO
open System.Threading
open Expecto
open WeightFlow
open WeightFlow.Tests

/// A small main job on the embedded UCI data: 4 runs x 3 epochs, 20 pairs, no flows.
let private small (dir: string) =
    { MainJobConfig.uci 0L dir with Zoo = { ZooConfig.uci with Runs = 4; Epochs = 3; DropEpochs = 1 }; Pairs = 20; Flows = [] }

/// A tiny main job with every stage: 6 runs x 3 epochs (2 held out), the preset's four flows at 4 iterations of
/// batch 8, 6 samples of 4 Euler steps each.
let private tiny (dir: string) =
    // τ = 1 for every flow (the UCI job's defaults are MainJobConfig.uciTemperature and the flows' own, uciFlow)
    let c = MainJobConfig.withTemperature 1.0 (MainJobConfig.uci 0L dir)
    { c with
        Zoo = { ZooConfig.uci with Runs = 6; Epochs = 3; DropEpochs = 1 }; Pairs = 10; HeldOutRuns = 2
        Flows = c.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 4; BatchSize = 8; Schedule = Constant } })
        // τ = 1: the three baselines alone; τ <> 1 is tested below
        Sampling = { c.Sampling with Count = 6; Steps = 4 } }

[<Tests>]
let tests =
    testList "MainJob" [
        test "withIterations sets every flow's iterations and keeps the warm-up at a tenth; the preset name says so" {
            let c = MainJobConfig.withIterations 40 (MainJobConfig.uci 0L "unused")
            Expect.isNonEmpty c.Flows "the preset has flows"
            for f in c.Flows do
                Expect.equal f.Training.Iterations 40 f.Name
                match f.Training.Schedule with
                | WarmupCosine w -> Expect.equal w 4 $"{f.Name}: warm-up 40 / 10"
                | _ -> ()
            Expect.stringContains c.Preset "40 iterations per flow" "preset name"
            let d = MainJobConfig.uci 0L "unused"
            Expect.equal d.Sampling.Temperature MainJobConfig.uciTemperature "UCI samples at the measured temperature"
            Expect.equal d.Evaluation.DiversityMax d.Sampling.Count "diversity over every sample"
            Expect.equal (MainJobConfig.withSamples 32 d).Evaluation.DiversityMax 32 "withSamples keeps them together"
            for f in d.Flows do
                let fitted = match f.Training.Prior.Centre with FitToTargets false -> true | _ -> false
                Expect.equal fitted (f.Training.Flow <> Euclidean) $"{f.Name}: the fitted prior on UCI exactly for the canonical RT flows"
            // each UCI flow's own sampling temperature reaches its sampling settings (uciFlow); other tasks sample at τ = 1
            let expected (f: FlowRun) =
                match f.Training.Flow, VelocityConfig.kind f.Training.Model with
                | Euclidean, VelocityKind.Mlp -> MainJobConfig.uciMlpTemperature
                | Euclidean, _ -> MainJobConfig.uciTemperature
                | Normalized, _ -> MainJobConfig.uciNormalizedTemperature
                | Geometric, _ -> MainJobConfig.uciGeometricTemperature
            for f in d.Flows do Expect.equal (MainJobConfig.samplingOf d f).Temperature (expected f) $"{f.Name}: its UCI temperature"
            // the values the pre-stated rule R-τ chose at zoo seeds 1-2 (docs/uci/tau-selection-results.md), every one
            // from its grid
            Expect.equal [ for f in d.Flows -> f.Name, (MainJobConfig.samplingOf d f).Temperature ]
                [ "Euclidean", 0.8; "Normalized", 0.9; "Geometric", 1.2; "Euclidean MLP", 0.8 ] "the rule's τ per flow"
            for f in d.Flows do Expect.contains TemperatureSelection.preStated.Grid (MainJobConfig.samplingOf d f).Temperature $"{f.Name}: τ from the grid"
            let other = MainJobConfig.ofZoo Task.Mnist ZooConfig.uci Quick 0L "unused"
            for f in other.Flows do Expect.equal (MainJobConfig.samplingOf other f).Temperature 1.0 $"{f.Name}: τ 1 off UCI"
            // the UCI Euclidean RT trains at its own learning rate (docs/results/main-job-seeds.md), every other flow
            // and every flow off UCI at its preset's (TrainingConfig.cpu)
            Expect.equal MainJobConfig.uciEuclideanLearningRate 3e-3 "the rate the seeds criterion tested"
            for f in d.Flows do
                let preset = (TrainingConfig.cpu f.Training.Flow (VelocityConfig.kind f.Training.Model)).LearningRate
                let isEuclideanRt = f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt
                Expect.equal f.Training.LearningRate (if isEuclideanRt then MainJobConfig.uciEuclideanLearningRate else preset) $"{f.Name}: UCI learning rate"
            Expect.notEqual (TrainingConfig.cpu Euclidean VelocityKind.Rt).LearningRate MainJobConfig.uciEuclideanLearningRate "the preset itself is not changed"
            for f in other.Flows do
                Expect.equal f.Training.LearningRate (TrainingConfig.cpu f.Training.Flow (VelocityConfig.kind f.Training.Model)).LearningRate $"{f.Name}: the preset's rate off UCI"
            Expect.throws (fun () -> MainJobConfig.withIterations 0 c |> ignore) "zero iterations refused"
        }

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

        test "flows trained two at a time on one intra-op thread each are bit for bit those trained one after another" {
            let dirA = Path.Combine(Path.GetTempPath(), $"wf-jobpar-{System.Guid.NewGuid():N}")
            let dirB = Path.Combine(Path.GetTempPath(), $"wf-jobseq-{System.Guid.NewGuid():N}")
            try
                let threadsBefore = TorchSharp.torch.get_num_threads ()
                let together = MainJob.run { tiny dirA with FlowThreads = Some 1; ParallelFlows = 2 } ignore CancellationToken.None
                Expect.equal (TorchSharp.torch.get_num_threads ()) threadsBefore "the caller's thread count is restored"
                let sequential = MainJob.run { tiny dirB with FlowThreads = Some 1; ParallelFlows = 1 } ignore CancellationToken.None
                for a, b in List.zip together.Flows sequential.Flows do
                    Expect.equal a.FinalLoss b.FinalLoss $"{a.Name}: the same losses"
                    // one intra-op thread: the flow's CPU seconds come from its own thread's clock, not the process's
                    // (which would include the flow trained beside it)
                    let meta = (let st = Storage.read a.Path in (for _, t in st.Tensors do t.Dispose()); st.Metadata)
                    if System.OperatingSystem.IsLinux() then
                        Expect.equal (meta.TryFind "train.cpu_scope") (Some "thread") $"{a.Name}: thread CPU time"
                    Expect.isNone (meta.TryFind "train.cpu_shared") $"{a.Name}: not shared with another flow"
                    let _, ta, _ = Sampling.load a.SamplesPath
                    let _, tb, _ = Sampling.load b.SamplesPath
                    Expect.bitExact ta tb $"{a.Name}: the same samples"
                Expect.equal (set (MainJob.run { tiny dirA with FlowThreads = Some 1; ParallelFlows = 2 } ignore CancellationToken.None).Reused).Count
                    (3 + 1 + 2 * together.Flows.Length + 1) "every stage recorded (no manifest update lost between parallel flows)"
                Expect.throws (fun () -> MainJobConfig.validate { tiny dirA with ParallelFlows = 0 }) "ParallelFlows 0 refused"
                Expect.throws (fun () -> MainJobConfig.validate { tiny dirA with FlowThreads = Some 0 }) "FlowThreads 0 refused"
            finally
                for d in [ dirA; dirB ] do if Directory.Exists d then Directory.Delete(d, true)
        }

        test "with flows: every flow trained, sampled and evaluated beside the three baselines; report and figures; a re-run reuses every stage" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-jobflows-{System.Guid.NewGuid():N}")
            try
                let c = tiny dir
                let stages = ResizeArray()
                let first = MainJob.run c (fun p -> stages.Add p.Stage) CancellationToken.None
                let names = c.Flows |> List.map (fun f -> f.Name)
                Expect.equal (first.Flows |> List.map (fun f -> f.Name)) names "every flow"
                for n in names do
                    Expect.contains stages (TrainFlow n) $"training progress of {n}"
                    Expect.contains stages (SampleFlow n) $"sampling progress of {n}"
                Expect.contains stages Evaluate "evaluation progress"
                for f in first.Flows do
                    Expect.isTrue (File.Exists f.Path) f.Path
                    Expect.isTrue (File.Exists f.SamplesPath) f.SamplesPath
                    Expect.isTrue (System.Double.IsFinite f.FinalLoss) "final loss"
                Expect.equal (first.Tables |> List.map (fun t -> t.Space)) [ "raw"; "canonical" ] "one table per space"
                let raw, canonical = first.Tables[0], first.Tables[1]
                Expect.equal (raw.Flows |> List.map (fun r -> r.Name)) [ "Euclidean"; "Euclidean MLP" ] "Euclidean flows in raw space"
                Expect.equal (canonical.Flows |> List.map (fun r -> r.Name)) [ "Normalized"; "Geometric" ] "the others in canonical space"
                for t in first.Tables do
                    Expect.equal (t.Baselines |> List.map (fun r -> r.Name)) [ "zoo mean"; "fitted Gaussian"; "held-out" ] "three baselines"
                    for r in t.Flows do
                        Expect.equal r.Count 6 "six samples"
                        Expect.isSome r.NoveltyRatio "novelty filled"
                        Expect.isSome r.Fidelity "fidelity filled"
                        Expect.isSome r.Diversity "diversity filled"
                Expect.isTrue (File.Exists first.ReportPath) "report.md"
                let report = File.ReadAllText first.ReportPath
                Expect.stringContains report "fitted Gaussian" "baselines in the report"
                Expect.stringContains report "Geometric" "flows in the report"
                for f in first.Figures do
                    Expect.isTrue (File.Exists f) f
                    let bytes = File.ReadAllBytes f
                    Expect.equal bytes[1..3] "PNG"B $"{f} is a PNG"
                let second = MainJob.run c ignore CancellationToken.None
                Expect.equal (set second.Reused).Count (3 + 1 + 2 * names.Length + 1) "every stage reused"
                Expect.equal second.Tables first.Tables "the tables read back equal"
                let samplesOf (r: MainJobResult) = [ for f in r.Flows -> f.Name, (let _, t, _ = Sampling.load f.SamplesPath in t) ] |> Map.ofList
                let firstSamples = samplesOf first
                // a sampling temperature resamples (the flows are reused) and adds the Gaussian at that τ
                let tempered = MainJob.run (MainJobConfig.withTemperature 0.5 c) ignore CancellationToken.None
                for n in names do Expect.contains tempered.Reused (TrainFlow n) $"{n} reused"
                Expect.isFalse (List.contains (SampleFlow "Euclidean") tempered.Reused) "resampled at τ = 0.5"
                for t, t0 in List.zip tempered.Tables first.Tables do
                    Expect.equal (t.Baselines |> List.map (fun r -> r.Name)) [ "zoo mean"; "fitted Gaussian"; "held-out"; "fitted Gaussian (τ 0.5)" ] "the tempered Gaussian beside the three"
                    // the same draws, evaluated again (bit for bit the same computation)
                    Expect.equal t.Baselines[1].CalibratedCrossEntropy t0.Baselines[1].CalibratedCrossEntropy "the τ = 1 Gaussian unchanged (the bars' baseline)"
                Expect.stringContains (File.ReadAllText tempered.ReportPath) "prior temperature τ = 0.5" "the report states τ"
                let temperedSamples = samplesOf tempered
                // A flow's own temperature (FlowRun.SamplingTemperature) reaches its sampler and its samples' key: the
                // Euclidean flow at τ 0.5 in a job at τ 1 reuses the τ = 0.5 job's samples (the same draw), the other
                // flows are resampled at τ 1 and equal the first run's bit for bit; only the raw table (the Euclidean
                // flow's) gets the Gaussian at τ 0.5.
                let own = { c with Flows = c.Flows |> List.map (fun f -> if f.Name = "Euclidean" then { f with SamplingTemperature = Some 0.5 } else f) }
                let mixed = MainJob.run own ignore CancellationToken.None
                Expect.equal (mixed.Flows |> List.map (fun f -> f.Temperature)) [ 0.5; 1.0; 1.0; 1.0 ] "each flow's τ recorded"
                Expect.contains mixed.Reused (SampleFlow "Euclidean") "the Euclidean samples at τ 0.5 reused"
                for n in names |> List.filter ((<>) "Euclidean") do
                    Expect.isFalse (List.contains (SampleFlow n) mixed.Reused) $"{n} resampled at τ 1"
                let mixedSamples = samplesOf mixed
                Expect.bitExact mixedSamples["Euclidean"] temperedSamples["Euclidean"] "Euclidean: the τ 0.5 draw"
                Expect.isGreaterThan ((mixedSamples["Euclidean"] - firstSamples["Euclidean"]).abs().max().item<float32>()) 0.0f "Euclidean: not the τ 1 draw"
                for n in names |> List.filter ((<>) "Euclidean") do
                    Expect.bitExact mixedSamples[n] firstSamples[n] $"{n}: τ 1 unchanged"
                Expect.equal (mixed.Tables |> List.map (fun t -> t.Baselines |> List.map (fun r -> r.Name)))
                    [ [ "zoo mean"; "fitted Gaussian"; "held-out"; "fitted Gaussian (τ 0.5)" ]; [ "zoo mean"; "fitted Gaussian"; "held-out" ] ]
                    "the tempered Gaussian only where a flow is tempered"
                Expect.stringContains (File.ReadAllText mixed.ReportPath) "prior temperature τ per flow (Euclidean 0.5, Normalized 1," "the report states each τ"
                // the Gaussian's own temperatures (`GaussianTemperatures`, `reproduce uci`'s rule-chosen τ) add its rows
                // in every table, after the flows' τs, without resampling any flow
                let gaussians = MainJob.run { own with GaussianTemperatures = [ 0.7; 0.5 ] } ignore CancellationToken.None
                for n in names do Expect.contains gaussians.Reused (SampleFlow n) $"{n}: samples reused"
                Expect.equal (gaussians.Tables |> List.map (fun t -> t.Baselines |> List.map (fun r -> r.Name)))
                    [ [ "zoo mean"; "fitted Gaussian"; "held-out"; "fitted Gaussian (τ 0.5)"; "fitted Gaussian (τ 0.7)" ]
                      [ "zoo mean"; "fitted Gaussian"; "held-out"; "fitted Gaussian (τ 0.7)"; "fitted Gaussian (τ 0.5)" ] ]
                    "the Gaussian at its own τs in both tables, each τ once"
                Expect.throws (fun () -> MainJobConfig.validate { own with GaussianTemperatures = [ -0.1 ] }) "a negative Gaussian temperature refused"
                // withTemperature (`run --temperature`) sets every flow's τ, the flows' own cleared
                Expect.isEmpty (MainJobConfig.withTemperature 0.7 { own with GaussianTemperatures = [ 0.6 ] }).GaussianTemperatures "the Gaussian's own τs cleared"
                let all = MainJobConfig.withTemperature 0.7 own
                Expect.equal [ for f in all.Flows -> (MainJobConfig.samplingOf all f).Temperature ] [ 0.7; 0.7; 0.7; 0.7 ] "τ reaches every flow"
                let bad = { c with Flows = c.Flows |> List.map (fun f -> { f with SamplingTemperature = Some -1.0 }) }
                Expect.throws (fun () -> MainJobConfig.validate bad) "a negative flow temperature refused"
                // a cancelled job stops with OperationCanceledException
                use cts = new CancellationTokenSource()
                cts.Cancel()
                Expect.throwsT<System.OperationCanceledException> (fun () -> MainJob.run { c with Seed = 1L } ignore cts.Token |> ignore) "cancelled"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
