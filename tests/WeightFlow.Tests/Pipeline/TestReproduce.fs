module WeightFlow.Tests.TestReproduce

open System.IO
open System.Threading
open Expecto
open WeightFlow

[<Tests>]
let tests =
    testList "Reproduce" [
        test "gaussians (a tinier preset): both sampling modes summarized, table, CSV and PNG written, a re-run reads them back" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-gauss-{System.Guid.NewGuid():N}")
            try
                let q = Reproduce.gaussiansConfig Quick dir
                let c = { q with Training = { q.Training with Iterations = 5; BatchSize = 8 }; Targets = 64; Samples = 12; Steps = 4 }
                let first = Reproduce.gaussians c (fun _ _ _ -> ()) CancellationToken.None
                Expect.equal (first.Rows |> List.map (fun r -> r.Mode)) [ "deterministic"; "stochastic" ] "both modes"
                for r in first.Rows do
                    Expect.equal r.Count 12 "12 samples"
                    Expect.isTrue (System.Double.IsFinite r.Mean && System.Double.IsFinite r.Std && r.Std > 0.0) "finite statistics"
                    Expect.isTrue (r.StdMin <= r.Std && r.Std <= r.StdMax) "the mean std lies in its range"
                Expect.isSome first.TrainingSeconds "trained"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "gaussians.md"))) "thesis" "the thesis column"
                let second = Reproduce.gaussians c (fun _ _ _ -> ()) CancellationToken.None
                Expect.isNone second.TrainingSeconds "read back"
                Expect.equal second.Rows first.Rows "same figures"
                // the done-when check itself
                let row mode mean std = { Mode = mode; Count = 1; Mean = mean; MeanMaxDeviation = 0.0; Std = std; StdMin = std; StdMax = std }
                Expect.isTrue (Reproduce.gaussiansPassed [ row "deterministic" 1.04 0.5; row "stochastic" 0.97 0.85 ]) "within the bars"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.06 0.5; row "stochastic" 1.0 1.0 ]) "mean off by 0.06"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.0 0.5; row "stochastic" 1.0 0.75 ]) "std off by 25%"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
