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
        test "UCI's own layout: s = B = 2 for the RT flows, the MLP unchanged, the RT flows from fitted priors" {
            let d = FlowDerivation.derive MainJobConfig.uciTemperature ZooConfig.uci.Layout
            Expect.equal (d.Parameters, d.ReferenceParameters, d.BudgetMultiple, d.IterationScale) (802, 802, 2.0, 2.0) "802 parameters, s = 2 · 802 / 802"
            for f in MainJobConfig.flows Quick 0L do
                let c = FlowDerivation.apply d f.Training
                TrainingConfig.validate c
                match VelocityConfig.kind f.Training.Model with
                | VelocityKind.Mlp -> Expect.equal (TrainingConfig.toMetadata c) (TrainingConfig.toMetadata f.Training) $"{f.Name}: the preset as it is"
                | _ ->
                    let centre = if f.Training.Flow = Euclidean then FitToTargets true else FitToTargets false
                    let expected = { f.Training with Iterations = 2 * f.Training.Iterations; Schedule = (match f.Training.Schedule with WarmupCosine w -> WarmupCosine (2 * w) | s -> s); Prior = { f.Training.Prior with Centre = centre } }
                    Expect.equal (TrainingConfig.toMetadata c) (TrainingConfig.toMetadata expected) $"{f.Name}"
                    Expect.equal (Prior.centreText c.Prior.Centre) (if f.Training.Flow = Euclidean then "standardized" else "fitted") $"{f.Name}: prior"
        }

        test "known shapes: s = 2 · 802 / P within [1, 8]; RT iterations and warm-up scaled, nothing else" {
            // 4-16-16-3: 4·16 + 16·16 + 16·3 + 16 + 16 + 3 = 403 parameters; 13-16-16-3: 547; 64-16-16-10: 1,482;
            // 64-32-32-10: 2048 + 1024 + 320 + 32 + 32 + 10 = 3,466 (above 2 · 802, so s = 1); 2-4-2: 2·4 + 4·2 + 4 + 2
            // = 22 (below 2 · 802 / 8, so the cap holds)
            let cases = [ "4-16-16-3", 403, 2.0 * 802.0 / 403.0; "13-16-16-3", 547, 2.0 * 802.0 / 547.0
                          "64-16-16-10", 1482, 2.0 * 802.0 / 1482.0; "64-32-32-10", 3466, 1.0; "2-4-2", 22, 8.0 ]
            for layout, p, s in cases do
                let d = FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse layout)
                Expect.equal d.Parameters p $"{layout}: parameters"
                // exact: the same float arithmetic, or a clamp bound
                Expect.equal d.IterationScale s $"{layout}: s"
            let preset = TrainingConfig.cpu Geometric VelocityKind.Rt
            Expect.equal (preset.Iterations, preset.Schedule, preset.Prior.Centre) (1000, WarmupCosine 100, Origin) "the preset these numbers scale"
            let c = FlowDerivation.apply (FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse "4-16-16-3")) preset
            // 1000 · 1604 / 403 = 3980.15 -> 3980; 100 · 3.98015 = 398.01 -> 398
            Expect.equal (c.Iterations, c.Schedule) (3980, WarmupCosine 398) "iterations and warm-up"
            let strip (c: TrainingConfig) = TrainingConfig.toMetadata c |> List.filter (fun (k, _) -> k <> "train.iterations" && k <> "train.schedule" && k <> "train.prior_centre")
            Expect.equal (strip c) (strip preset) "every other setting kept"
            Expect.equal (Prior.centreText c.Prior.Centre) "fitted" "the Geometric RT from the Gaussian fitted to its canonical targets (rule 3)"
            let tiny = FlowDerivation.apply (FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse "2-4-2")) preset
            Expect.equal tiny.Iterations 8000 "capped at 8x"
            let mlp = TrainingConfig.cpu Euclidean VelocityKind.Mlp
            Expect.equal (TrainingConfig.toMetadata (FlowDerivation.apply (FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse "4-16-16-3")) mlp)) (TrainingConfig.toMetadata mlp) "the MLP keeps its preset"
            // a prior already chosen (here UCI's fitted one for the Geometric RT) is kept, not replaced
            let fitted = { preset with Prior = { preset.Prior with Centre = FitToTargets true } }
            Expect.equal (Prior.centreText (FlowDerivation.apply (FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse "4-16-16-3")) fitted).Prior.Centre) "standardized" "a chosen prior kept"
            Expect.stringContains (FlowDerivation.describe (FlowDerivation.derive MainJobConfig.uciTemperature (Layout.parse "4-16-16-3"))) "= 3.98" "the report sentence gives s"
        }

        test "forTask: a CSV task's flows are derived and say so (the Euclidean RT at the UCI τ 0.8); UCI's are the presets; --iterations and --temperature override the derivation" {
            withDir (fun dir ->
                let csv = Path.Combine(dir, "blobs.csv")
                writeBlobs csv 150
                let c = MainJobConfig.forTask (Task.Csv csv) Quick 0L dir
                Expect.equal c.Zoo.Layout (Layout.parse "4-16-16-3") "layout from the data"
                Expect.isSome c.Derivation "derived"
                let presets = MainJobConfig.flows Quick 0L
                for f, p in List.zip c.Flows presets do
                    let expected = if VelocityConfig.kind p.Training.Model = VelocityKind.Mlp then p.Training.Iterations else int (Math.Round(float p.Training.Iterations * 2.0 * 802.0 / 403.0))
                    Expect.equal f.Training.Iterations expected $"{f.Name}: iterations"
                let u = MainJobConfig.uci 0L dir
                Expect.isNone u.Derivation "UCI: no derivation"
                // UCI keeps the presets, except the canonical RT flows' fitted prior (MainJobConfig.fittedPriorOnUci)
                // and the Euclidean RT's learning rate (uciEuclideanLearningRate): MainJobConfig.uciFlow, no derivation
                for f, p in List.zip u.Flows presets do
                    Expect.equal (TrainingConfig.toMetadata f.Training) (TrainingConfig.toMetadata (MainJobConfig.uciFlow p).Training) $"UCI {f.Name}: the preset"
                // rule 4: the Euclidean RT samples at the UCI job's τ for it, every other flow at τ = 1
                Expect.equal MainJobConfig.uciTemperature 0.8 "the UCI Euclidean RT's τ this rule takes (README 'CSV tasks')"
                Expect.equal c.Derivation.Value.EuclideanTemperature (Some MainJobConfig.uciTemperature) "the derivation records it"
                Expect.equal c.Sampling.Temperature 1.0 "the job's τ for the other flows"
                for f in c.Flows do
                    let isEuclideanRt = f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt
                    Expect.equal f.SamplingTemperature (if isEuclideanRt then Some 0.8 else None) $"{f.Name}: its own τ"
                    Expect.equal (MainJobConfig.samplingOf c f).Temperature (if isEuclideanRt then 0.8 else 1.0) $"{f.Name}: sampled at"
                Expect.stringContains (FlowDerivation.describe c.Derivation.Value) "τ = 0.8" "the report sentence gives τ"
                // UCI unaffected: its own per-flow temperatures (uciFlow) and job τ, as before
                Expect.equal u.Sampling.Temperature MainJobConfig.uciTemperature "UCI job τ"
                for f, p in List.zip u.Flows presets do
                    Expect.equal f.SamplingTemperature (MainJobConfig.uciFlow p).SamplingTemperature $"UCI {f.Name}: τ"
                // --temperature sets every flow's τ, and the derivation no longer claims rule 4's
                let t = MainJobConfig.withTemperature 0.7 c
                Expect.isTrue (t.Flows |> List.forall (fun f -> (MainJobConfig.samplingOf t f).Temperature = 0.7)) "τ 0.7 everywhere"
                Expect.equal t.Derivation.Value.EuclideanTemperature None "no derived τ claimed"
                Expect.isFalse ((FlowDerivation.describe t.Derivation.Value).Contains "τ = 0.8") "not stated"
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
                Expect.stringContains report "= 3.98" "with its factor"
                Expect.stringContains report "standardized Gaussian fitted" "the Euclidean RT's prior stated"
                Expect.stringContains report "canonicalized training checkpoints" "the canonical RT flows' prior stated"
                Expect.stringContains report "Euclidean 0.8" "the Euclidean RT sampled at τ 0.8 (rule 4)")
        }
    ]
