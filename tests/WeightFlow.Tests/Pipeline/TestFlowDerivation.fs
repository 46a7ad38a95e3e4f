module WeightFlow.Tests.TestFlowDerivation

open System
open System.IO
open System.Threading
open Expecto
open WeightFlow

/// A seeded 4-feature, 3-class CSV of `rows` rows (three shifted blobs), with a header.
let private writeBlobs (path: string) (rows: int) =
    let r = Random 5
    let centre k j = if (k + j) % 3 = 0 then 2.5 else 0.0
    let lines = [ for i in 0 .. rows - 1 -> (let k = i % 3 in String.Join(",", [ for j in 0 .. 3 -> (centre k j + r.NextDouble() - 0.5).ToString("R", Globalization.CultureInfo.InvariantCulture) ]) + $",{k}") ]
    File.WriteAllLines(path, "a,b,c,d,label" :: lines)

let private withDir (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"wf-derive-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally if Directory.Exists dir then Directory.Delete(dir, true)

[<Tests>]
let tests =
    testList "FlowDerivation" [
        test "UCI's own layout: s = 1, every preset's iterations unchanged; only the Euclidean RT's prior changes" {
            let d = FlowDerivation.derive ZooConfig.uci.Layout
            Expect.equal (d.Parameters, d.ReferenceParameters, d.IterationScale) (802, 802, 1.0) "802 parameters, s = 1"
            for f in MainJobConfig.flows Quick 0L do
                let c = FlowDerivation.apply d f.Training
                let standardized = f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt
                let expected = if standardized then { f.Training with Prior = { f.Training.Prior with Centre = FitToTargets true } } else f.Training
                Expect.equal (TrainingConfig.toMetadata c) (TrainingConfig.toMetadata expected) $"{f.Name}"
                Expect.equal (Prior.centreText c.Prior.Centre) (if standardized then "standardized" else "origin") $"{f.Name}: prior"
                TrainingConfig.validate c
        }

        test "known shapes: s = 802 / P within [1, 4]; iterations and warm-up scaled, nothing else" {
            // 4-16-16-3: 4·16 + 16·16 + 16·3 + 16 + 16 + 3 = 403 parameters; 13-16-16-3: 547; 64-16-16-10: 1,482;
            // 2-4-2: 2·4 + 4·2 + 4 + 2 = 22 (below 802 / 4, so the cap holds)
            let cases = [ "4-16-16-3", 403, 802.0 / 403.0; "13-16-16-3", 547, 802.0 / 547.0; "64-16-16-10", 1482, 1.0; "2-4-2", 22, 4.0 ]
            for layout, p, s in cases do
                let d = FlowDerivation.derive (Layout.parse layout)
                Expect.equal d.Parameters p $"{layout}: parameters"
                // exact: the same float division, or a clamp bound
                Expect.equal d.IterationScale s $"{layout}: s"
            let preset = TrainingConfig.cpu Geometric VelocityKind.Rt
            Expect.equal (preset.Iterations, preset.Schedule) (1000, WarmupCosine 100) "the preset these numbers scale"
            let c = FlowDerivation.apply (FlowDerivation.derive (Layout.parse "4-16-16-3")) preset
            // 1000 · 802 / 403 = 1990.07 -> 1990; 100 · 1.99 = 199.0 -> 199
            Expect.equal (c.Iterations, c.Schedule) (1990, WarmupCosine 199) "iterations and warm-up"
            let strip (c: TrainingConfig) = TrainingConfig.toMetadata c |> List.filter (fun (k, _) -> k <> "train.iterations" && k <> "train.schedule")
            // the Geometric flow keeps its prior (rule 2 is for the Euclidean flow)
            Expect.equal (strip c) (strip preset) "every other setting kept"
            let tiny = FlowDerivation.apply (FlowDerivation.derive (Layout.parse "2-4-2")) preset
            Expect.equal tiny.Iterations 4000 "capped at 4x"
            Expect.stringContains (FlowDerivation.describe (FlowDerivation.derive (Layout.parse "4-16-16-3"))) "= 1.99" "the report sentence gives s"
        }

        test "forTask: a CSV task's flows are derived and say so; UCI's are the presets; --iterations overrides the derivation" {
            withDir (fun dir ->
                let csv = Path.Combine(dir, "blobs.csv")
                writeBlobs csv 150
                let c = MainJobConfig.forTask (Task.Csv csv) Quick 0L dir
                Expect.equal c.Zoo.Layout (Layout.parse "4-16-16-3") "layout from the data"
                Expect.isSome c.Derivation "derived"
                let presets = MainJobConfig.flows Quick 0L
                for f, p in List.zip c.Flows presets do
                    Expect.equal f.Training.Iterations (int (Math.Round(float p.Training.Iterations * 802.0 / 403.0))) $"{f.Name}: iterations"
                let u = MainJobConfig.uci 0L dir
                Expect.isNone u.Derivation "UCI: no derivation"
                // UCI keeps the presets, except the canonical RT flows' fitted prior (MainJobConfig.fittedPriorOnUci).
                for f, p in List.zip u.Flows presets do
                    Expect.equal (TrainingConfig.toMetadata f.Training) (TrainingConfig.toMetadata (MainJobConfig.fittedPriorOnUci p).Training) $"UCI {f.Name}: the preset"
                let o = MainJobConfig.withIterations 7 c
                Expect.isNone o.Derivation "set by hand: no derivation claimed"
                Expect.isTrue (o.Flows |> List.forall (fun f -> f.Training.Iterations = 7)) "7 iterations")
        }

        test "an untuned CSV runs end to end (tiny sizes) and report.md states the derived flows" {
            withDir (fun dir ->
                let csv = Path.Combine(dir, "blobs.csv")
                writeBlobs csv 150
                let c = MainJobConfig.forTask (Task.Csv csv) Quick 0L (Path.Combine(dir, "out"))
                let c =
                    { c with
                        Zoo = { c.Zoo with Runs = 6; Epochs = 3; DropEpochs = 1; Every = 1 }; Pairs = 6; HeldOutRuns = 2
                        Flows = c.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 3; BatchSize = 8; Schedule = Constant } })
                        Sampling = { c.Sampling with Count = 4; Steps = 3 } }
                let r = MainJob.run c ignore CancellationToken.None
                Expect.equal (r.Tables |> List.sumBy (fun t -> t.Flows.Length)) 4 "every flow evaluated"
                for t in r.Tables do
                    for row in t.Flows do
                        Expect.isSome row.NoveltyRatio $"{row.Name}: novelty"
                        Expect.isSome row.Fidelity $"{row.Name}: fidelity"
                        Expect.isSome row.Diversity $"{row.Name}: diversity"
                let report = File.ReadAllText r.ReportPath
                Expect.stringContains report "Flows derived from the data (FlowDerivation)" "derivation stated"
                Expect.stringContains report "= 1.99" "with its factor"
                Expect.stringContains report "standardized Gaussian fitted" "the Euclidean RT's prior stated")
        }
    ]
