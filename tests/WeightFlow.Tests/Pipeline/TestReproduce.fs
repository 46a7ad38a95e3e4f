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

[<Tests>]
let mnistTests =
    testList "ReproduceMnist" [
        test "quick preset: CI-sized zoo and flows, Table 7.2 names, the thesis' λ; full: the appendix A zoo" {
            let q = ReproduceMnist.config Quick 0L "unused"
            Expect.equal q.Job.Task Task.Mnist "MNIST"
            Expect.equal (string q.Job.Zoo.Layout) "784-10-10" "the thesis' network"
            Expect.isLessThanOrEqual (q.Job.Zoo.Runs * q.Job.Zoo.Epochs) 20 "a tiny zoo"
            for f in q.Job.Flows do Expect.isLessThanOrEqual f.Training.Iterations 10 $"{f.Name}: a smoke run"
            Expect.equal q.Guidance 0.1 "thesis λ"
            let full = ReproduceMnist.config Full 0L "unused"
            Expect.equal full.Job.Zoo.Runs ZooConfig.mnist.Runs "appendix A zoo"
            Expect.equal full.Steps [ 8; 16; 32; 64; 128; 256; 512 ] "Fig. 7.4's step counts"
            for f in full.Job.Flows do
                Expect.isTrue (ReproduceMnist.thesisTable72 |> List.exists (fun (n, _) -> n = f.Name) || f.Name.Contains "symmetry" || f.Name.Contains "MLP")
                    $"{f.Name}: a Table 7.2 row, or one of our extra rows"
        }

        test "the pipeline end to end on a tiny 784-feature CSV stand-in for MNIST: tables, sweeps and PNGs, read back on a re-run" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-mnist-{System.Guid.NewGuid():N}")
            try
                Directory.CreateDirectory dir |> ignore
                // 600 rows (every class in every split), 784 features, 10 classes: class c lights up features 70c..70c+69 (learnable in a few epochs)
                let rng = System.Random(3)
                let csv = Path.Combine(dir, "fake-mnist.csv")
                File.WriteAllLines(csv,
                    [| for i in 0 .. 599 ->
                        let c = i % 10
                        String.concat "," [ for j in 0 .. 783 -> (if j / 70 = c then 1.0 + rng.NextDouble() else rng.NextDouble() * 0.3).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ]
                        + $",{c}" |])
                let q = ReproduceMnist.config Quick 0L (Path.Combine(dir, "out"))
                let flows = q.Job.Flows |> List.filter (fun f -> f.Name = "Geometric (aligned + symmetry)") |> List.map (fun f -> { f with Training = { f.Training with Iterations = 3 } })
                let r = { q with Job = { q.Job with Task = Task.Csv csv; Flows = flows; Zoo = { q.Job.Zoo with Runs = 4; Every = 2; Epochs = 2; DropEpochs = 0 }; Pairs = 4 }
                                 Steps = [ 2 ]; SweepCount = 2; Noise = [ 0.0 ] }
                let first = ReproduceMnist.run r ignore CancellationToken.None
                Expect.equal first.Sweep.Length (2 * flows.Length) "one point per flow, guided and not"
                Expect.equal first.NoiseSweep.Length flows.Length "one noise point per flow"
                for p in first.NoiseSweep do Expect.isTrue (System.Double.IsFinite p.NoveltyRatio) $"{p.Flow}: a novelty ratio"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "out", "table-7.2.md"))) "0.786 ± 0.064" "the thesis' Table 7.2 beside ours"
                let second = ReproduceMnist.run r ignore CancellationToken.None
                Expect.equal second.Sweep first.Sweep "sweep read back"
                Expect.equal second.NoiseSweep first.NoiseSweep "noise sweep read back"
                // transfer (Table 7.3, Fig. 7.6) and wider (Table 7.4) on the same flows, the CSV standing in for Fashion-MNIST
                let t = { ReproduceTransfer.config Quick 0L "unused" with Mnist = r; Target = Task.Csv csv; Count = 2; Steps = 2; AdamIterations = 4; AdamEvery = 2 }
                let transfer = ReproduceTransfer.fashionTransfer t ignore CancellationToken.None
                Expect.equal transfer.Rows.Length (2 * flows.Length) "guided and unguided rows per flow"
                Expect.isNone transfer.Job.TrainingSeconds "the MNIST job's zoo read back"
                Expect.equal (transfer.Curves |> List.map (fun cv -> cv.Iterations)) [ [| 0; 2; 4 |] ] "the Gaussian curve (no Euclidean RT flow here)"
                let wide = ReproduceTransfer.wider t ignore CancellationToken.None
                Expect.equal (wide.Rows |> List.map (fun row -> row.Count)) [ 2; 2 ] "784-32-10 samples, guided and not"
                for f in transfer.Files @ wide.Files do Expect.isTrue (File.Exists f) f
                let again = ReproduceTransfer.fashionTransfer t ignore CancellationToken.None
                Expect.equal again.Rows transfer.Rows "rows read back"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
