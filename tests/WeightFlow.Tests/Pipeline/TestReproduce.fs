module WeightFlow.Tests.TestReproduce

open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow

/// The toy's exact x1-predictor (prior N(0, s²I), target N(1, I), independent coupling, linear path; the path's σ =
/// 0.001 is negligible): x_t ~ N(t, v_t) with v_t = (1 - t)² s² + t², Cov(x1, x_t) = t, so
/// E[x1 | x_t] = 1 + t (x_t - t) / v_t. Wrapped as a flow, it is a perfectly trained model.
let private exactFlow (layout: Layout) (s: float) : Flow =
    let predict (t: Tensor) (x: Tensor) =
        let t = Field.column t
        let v = (t.neg() + 1.0).square() * (s * s) + t.square()
        (x - t) * t / v + 1.0
    let model = { Config = VelocityConfig.defaults VelocityKind.Mlp 1 1; Layout = layout; Parameters = []; On = fun _ -> predict }
    { Space = FlowSpace.create Euclidean 1e-3 layout; Prior = { Std = s; Centre = Origin }; Prediction = Endpoint; Model = model }

/// The standard deviation Euler sampling of the exact field gives (the oracle): per coordinate the field is affine in
/// x, v = ((a_t - 1) x + 1 - a_t t) / (1 - t) with a_t = t / v_t, so an Euler step multiplies the deviation from the
/// mean by g_k = 1 + dt (a_t - 1) / (1 - t) and the variance recursion is V <- g_k² (V + n_k), where n_k is the
/// variance the noise adds before step k (its window and scale as in `Transform.stochastic`).
let private eulerStd (s: float) (steps: int) (noise: Transform.Noise option) =
    let dt = 1.0 / float steps
    let mutable var = s * s
    for k in 0 .. steps - 1 do
        let t = float k / float steps
        let a = t / ((1.0 - t) ** 2.0 * s * s + t * t)
        let g = 1.0 + dt * (a - 1.0) / (1.0 - t)
        let added = match noise with Some n when t >= n.Start && t < n.Stop -> n.Eps * n.Eps * dt | _ -> 0.0
        var <- g * g * (var + added)
    sqrt var

[<Tests>]
let tests =
    testList "Reproduce" [
        test "gaussians: the exact field through the toy's sampler gives mean 1 and std ≈ 1 in every mode (Euler's bias only)" {
            let c = { Reproduce.gaussiansConfig Quick "unused" with Samples = 512 }
            let flow = exactFlow c.Layout 1.0
            let sampled = Reproduce.gaussiansSample c (fun _ _ _ -> ()) flow
            let rows = sampled |> List.map fst
            for _, x in sampled do x.Dispose()
            Expect.equal (rows |> List.map (fun r -> r.Mode)) (c.Modes |> List.map (fun m -> m.Name)) "every mode, in order"
            for r, mode in List.zip rows c.Modes do
                let expected = eulerStd 1.0 c.Steps mode.Noise
                // 512 samples x 802 independent coordinates: the mean of the coordinate means has SE 1/√(512·802) ≈
                // 0.0016; the mean of the coordinate stds has SE ≈ σ/√(2·511)/√802 ≈ 0.0011 (the sample std's bias,
                // 1/(4n) ≈ 0.0005, is below it). Bounds: 4 SE, rounded up.
                Expect.isLessThan (abs (r.Mean - 1.0)) 0.007 $"{r.Mode}: mean {r.Mean}"
                Expect.isLessThan (abs (r.Std - expected)) 0.005 $"{r.Mode}: std {r.Std}, Euler oracle {expected}"
            // Deterministic Euler with 100 steps under-covers by its discretization error only (oracle 0.987), so an
            // under-covering deterministic row of a trained flow (thesis Fig. 7.1) comes from the learnt field.
            Expect.isGreaterThan rows.Head.Std 0.98 "deterministic std of the exact field"
            Expect.isTrue (Reproduce.gaussiansPassed rows) "a perfect field meets the done-when"
        }

        test "gaussians: a field that ignores x_t (predicts the target mean) collapses the samples and fails the bar" {
            let c = { Reproduce.gaussiansConfig Quick "unused" with Samples = 64; Steps = 20; Modes = Reproduce.gaussiansModes 20 }
            let flow = exactFlow c.Layout 1.0
            let collapsed = { flow with Model = { flow.Model with On = fun _ -> fun _ x -> torch.ones_like(x) } }
            let rows = Reproduce.gaussiansSample c (fun _ _ _ -> ()) collapsed |> List.map (fun (r, x) -> x.Dispose(); r)
            // The conditional velocity (1 - x)/(1 - t) contracts every trajectory onto x̂1 = 1 (also any noise added
            // before the last step), so every std is 0 up to float32 rounding.
            for r in rows do Expect.isLessThan r.Std 1e-5 $"{r.Mode}: std {r.Std}"
            Expect.isFalse (Reproduce.gaussiansPassed rows) "std far from 1"
        }

        test "gaussians (a tinier preset): every sampling mode summarized, table, CSV and PNG written, a re-run reads them back" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-gauss-{System.Guid.NewGuid():N}")
            try
                let q = Reproduce.gaussiansConfig Quick dir
                let c = { q with Training = { q.Training with Iterations = 5; BatchSize = 8 }; Targets = 64; Samples = 12; Steps = 4 }
                let first = Reproduce.gaussians c (fun _ _ _ -> ()) CancellationToken.None
                Expect.equal (first.Rows |> List.map (fun r -> r.Mode)) [ "deterministic"; "stochastic"; "stochastic (anchor noise)" ] "every mode"
                for r in first.Rows do
                    Expect.equal r.Count 12 "12 samples"
                    Expect.isTrue (System.Double.IsFinite r.Mean && System.Double.IsFinite r.Std && r.Std > 0.0) "finite statistics"
                    Expect.isTrue (r.StdMin <= r.Std && r.Std <= r.StdMax) "the mean std lies in its range"
                Expect.isSome first.TrainingSeconds "trained"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "gaussians.md"))) "thesis" "the thesis column"
                let second = Reproduce.gaussians c (fun _ _ _ -> ()) CancellationToken.None
                Expect.equal second.TrainingSeconds first.TrainingSeconds "read back with the training times"
                Expect.isSome first.TrainingCpuSeconds "CPU seconds measured"
                Expect.equal second.Rows first.Rows "same figures"
                // the done-when check itself
                let row mode mean std = { Mode = mode; Count = 1; Mean = mean; MeanMaxDeviation = 0.0; Std = std; StdMin = std; StdMax = std }
                Expect.isTrue (Reproduce.gaussiansPassed [ row "deterministic" 1.04 0.5; row "stochastic" 0.97 0.85 ]) "within the bars"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.06 0.5; row "stochastic" 1.0 1.0 ]) "mean off by 0.06"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.0 0.5; row "stochastic" 1.0 0.75 ]) "std off by 25%"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.0 0.5; row "stochastic" 1.0 0.9; row "stochastic (anchor noise)" 1.0 0.7 ]) "every stochastic mode"
                Expect.isFalse (Reproduce.gaussiansPassed [ row "deterministic" 1.0 1.0 ]) "no stochastic mode"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }

        test "uci: the nine rows of Table 7.1 come first; --rows selects rows by id in order and refuses an unknown id" {
            let r = Reproduce.uciConfig Quick 0L "unused"
            let ids = r.Job.Flows |> List.map (fun f -> Reproduce.rowId f.Name)
            Expect.equal (List.take 9 ids)
                [ "euclidean"; "euclidean-aligned"; "euclidean-aligned-ot"; "normalized"; "normalized-aligned"; "normalized-aligned-ot"
                  "geometric"; "geometric-aligned"; "geometric-aligned-ot" ] "the thesis' rows first"
            Expect.equal (List.skip 9 ids) [ "euclidean-aligned-symmetry"; "normalized-aligned-symmetry"; "geometric-aligned-symmetry"; "euclidean-mlp-aligned" ] "then the extra rows"
            let picked = Reproduce.withRows [ "geometric-aligned"; "euclidean" ] r
            Expect.equal (picked.Job.Flows |> List.map (fun f -> f.Name)) [ "Euclidean"; "Geometric (aligned)" ] "the configuration's order"
            Expect.equal (Reproduce.withRows [] r).Job.Flows.Length 13 "every row by default"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withRows [ "euclidean-aligned-+-ot" ] r |> ignore) "an unknown id"
        }

        test "uci: the full preset samples the main job's 256 networks per row at its UCI temperature, the canonical RT rows from the fitted prior and as long as the main job's, each departure tabled" {
            let r = Reproduce.uciConfig Full 0L "unused"
            Expect.equal r.Job.Sampling.Count MainJobConfig.samples "the main job's sample count"
            Expect.equal r.Job.Sampling.Temperature MainJobConfig.uciTemperature "the main job's UCI temperature"
            // the main job's canonical RT flows, whose training length the full preset's canonical rows take
            let mainJob = MainJobConfig.uci 0L "unused"
            let mainCanonical = mainJob.Flows |> List.filter (fun f -> f.Training.Flow <> Euclidean)
            Expect.equal mainCanonical.Length 2 "the main job has a Normalized and a Geometric RT flow"
            for f in r.Job.Flows do
                let fitted = match f.Training.Prior.Centre with FitToTargets _ -> true | _ -> false
                let canonicalRt = f.Training.Flow <> Euclidean && VelocityConfig.kind f.Training.Model = VelocityKind.Rt
                Expect.equal fitted canonicalRt $"{f.Name}: fitted prior exactly for the canonical RT rows"
                if canonicalRt then
                    let m = mainCanonical |> List.find (fun g -> g.Training.Flow = f.Training.Flow)
                    Expect.equal f.Training.Iterations m.Training.Iterations $"{f.Name}: the main job's canonical flow's iterations"
                    Expect.equal f.Training.Schedule m.Training.Schedule $"{f.Name}: and its warm-up"
                    Expect.equal f.Training.Iterations 1000 $"{f.Name}: 1,000 iterations"
                elif f.Name = "Euclidean" then Expect.equal f.Training.Iterations 9000 $"{f.Name}: 9,000 iterations (docs/uci/long1.md)"
                else Expect.equal f.Training.Iterations 3000 $"{f.Name}: 3,000 iterations"
                Expect.equal f.Training.BatchSize 32 $"{f.Name}: the thesis' batch"
            Expect.equal (r.Departures |> List.map (fun d -> d.Setting))
                [ "sampling temperature τ (per row, rule R-τ)"; "prior of the Normalized and Geometric RT rows"; "iterations of the Normalized and Geometric RT rows (full preset)"
                  "Euler steps of the Euclidean RT rows (Euclidean, aligned, aligned + OT)" ]
                "the four departures stated"
            Expect.equal ((Reproduce.uciConfig Quick 0L "unused").Departures |> List.map (fun d -> d.Setting))
                [ "sampling temperature τ (per row, rule R-τ)"; "prior of the Normalized and Geometric RT rows" ] "quick: the two method departures (its 100 iterations are a smoke run's)"
            Expect.equal (Reproduce.withParallelFlows 1 r).Job.ParallelFlows 1 "one flow at a time"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withParallelFlows 0 r |> ignore) "at least one"
            let one = Reproduce.withTemperature 1.0 r
            Expect.equal [ for f in one.Job.Flows -> (MainJobConfig.samplingOf one.Job f).Temperature ] (List.replicate 13 1.0) "--temperature reaches every row"
            Expect.isEmpty one.Job.GaussianTemperatures "and clears the Gaussian's own τ"
            Expect.isNone one.GaussianTemperature "no own-τ comparison"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withTemperature -0.5 r |> ignore) "a negative temperature"
        }

        test "uci: --euclidean-prior fitted trains exactly the four Euclidean RT rows from the fitted prior at the canonical rows' 1,000 iterations; the MLP row, the canonical rows and the main job unchanged" {
            let iso = (Reproduce.uciFlows IsotropicPrior Full 0L) |> List.map (fun f -> f.Name, f) |> Map.ofList
            let fit = Reproduce.uciFlows FittedPrior Full 0L
            let centre (f: FlowRun) = Prior.centreText f.Training.Prior.Centre
            let changed = [ for f in fit do if centre f <> centre iso[f.Name] || f.Training.Iterations <> iso[f.Name].Training.Iterations then f.Name ]
            Expect.equal changed [ "Euclidean"; "Euclidean (aligned)"; "Euclidean (aligned + OT)"; "Euclidean (aligned + symmetry)" ] "only the Euclidean RT rows change"
            for f in fit do
                let rt = VelocityConfig.kind f.Training.Model = VelocityKind.Rt
                Expect.equal (centre f) (if rt then "fitted" else "origin") $"{f.Name}: every RT row from the (non-standardized) fitted prior, the MLP from the origin"
                Expect.equal f.Training.Iterations (if rt then 1000 else 3000) $"{f.Name}: the canonical rows' length for every RT row"
                Expect.equal (TrainingConfig.preconditioning f.Training) (if rt then PreconditioningKind.Plain else (iso[f.Name]).Training.Preconditioning) $"{f.Name}: plain preconditioning with a fitted prior"
                let o = iso[f.Name].Training
                Expect.equal (f.Training.Coupling, f.Training.LearningRate, f.Training.BatchSize, f.Training.Schedule, f.Training.Prediction)
                             (o.Coupling, o.LearningRate, o.BatchSize, o.Schedule, o.Prediction) $"{f.Name}: every other setting as before"
            for f in iso |> Map.values do
                if f.Training.Flow = Euclidean then Expect.equal (centre f) "origin" $"{f.Name}: isotropic by the option's other case"
            // the main job's Euclidean RT keeps N(0, 0.1² I): the option is the reproduction's only
            let main = MainJobConfig.uci 0L "unused"
            Expect.equal [ for f in main.Flows do if f.Training.Flow = Euclidean then centre f ] [ "origin"; "origin" ] "the main job's Euclidean flows untouched"
            let d = Reproduce.uciDepartures Quick FittedPrior |> List.map (fun d -> d.Setting)
            Expect.contains d "prior of the Euclidean RT rows (--euclidean-prior fitted)" "the departure stated"
            Expect.isFalse (Reproduce.uciDepartures Quick IsotropicPrior |> List.exists (fun d -> d.Setting.StartsWith "prior of the Euclidean")) "and only with the option"
            Expect.equal (Reproduce.parseEuclideanPrior " Fitted ") FittedPrior "parsed"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.parseEuclideanPrior "standardized" |> ignore) "an unknown prior"
        }

        test "uci: --euclidean-lr/--euclidean-iterations retrain exactly the three nine-table Euclidean RT rows; the default recipe is the current one; bad values and recipes without a chosen τ are refused" {
            let d = Reproduce.uciEuclideanTraining
            Expect.equal (d.Iterations, d.LearningRate) (3000, 1e-3) "the default: 3,000 iterations at 1e-3 (docs/uci/euclid3.md)"
            let r = Reproduce.uciConfig Full 0L "unused"
            Expect.isTrue (obj.ReferenceEquals(Reproduce.withEuclideanTraining d r, r)) "the default recipe changes nothing"
            let quick = Reproduce.uciConfig Quick 0L "unused"
            Expect.isTrue (obj.ReferenceEquals(Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 100 1e-3) quick, quick)) "nor the quick preset's own length"
            let t = Reproduce.euclideanTraining 1000 3e-3
            let job = Reproduce.euclidLrJob t "unused"
            Expect.equal [ for f in job.Flows -> f.Name ] [ "Euclidean"; "Euclidean (aligned)"; "Euclidean (aligned + OT)" ] "the three rows"
            let before = r.Job.Flows |> List.map (fun f -> f.Name, f) |> Map.ofList
            for f in job.Flows do
                Expect.equal (f.Training.Iterations, f.Training.LearningRate) (1000, 3e-3) $"{f.Name}: the recipe"
                let o = before[f.Name].Training
                Expect.equal (TrainingConfig.toMetadata { f.Training with Iterations = o.Iterations; LearningRate = o.LearningRate }) (TrainingConfig.toMetadata o) $"{f.Name}: every other setting as the table's (the flow's cache key)"
            let b = Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 3000 3e-3) r
            let tau (f: FlowRun) = (MainJobConfig.samplingOf b.Job f).Temperature
            Expect.equal [ for f in b.Job.Flows do if f.Training.LearningRate = 3e-3 && f.Training.Flow = Euclidean then f.Name, tau f ]
                         [ "Euclidean", 0.6; "Euclidean (aligned)", 0.7; "Euclidean (aligned + OT)", 0.6 ] "B's rows at the τs R-τ chose on B's flows (docs/uci/euclid3-results.md)"
            Expect.equal [ for f in b.Job.Flows do if not (Reproduce.isEuclideanRtRow f) then f.Name, tau f ] [ for f in r.Job.Flows do if not (Reproduce.isEuclideanRtRow f) then f.Name, tau f ] "every other row as before"
            Expect.equal (b.Departures.Length, (List.last b.Departures).Setting) (r.Departures.Length + 1, "length and learning rate of the Euclidean RT rows (--euclidean-iterations / --euclidean-lr)") "the departure stated"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.euclideanTraining 0 3e-3 |> ignore) "no iterations"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.euclideanTraining 1000 0.0 |> ignore) "a zero rate"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.euclideanTraining 1000 nan |> ignore) "a rate that is not a number"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 2000 2e-3) r |> ignore) "a recipe R-τ never scored"
        }

        test "uci: the full preset trains the unaligned Euclidean RT row 9,000 iterations and every other row as before (docs/uci/long1.md); it samples at τ 0.9 with 512 steps; the quick preset, the fitted prior and other recipes are unchanged" {
            Expect.equal Reproduce.uciEuclideanUnalignedIterations 9000 "the adopted length (docs/uci/long1-results.md)"
            let r = Reproduce.uciConfig Full 0L "unused"
            let rows = r.Job.Flows |> List.map (fun f -> f.Name, f) |> Map.ofList
            let unaligned = rows["Euclidean"]
            Expect.equal (unaligned.Training.Iterations, unaligned.Training.LearningRate, unaligned.Training.Schedule) (9000, 1e-3, rows["Euclidean (aligned)"].Training.Schedule) "9,000 at the aligned rows' rate and schedule"
            // every other row's training (its flow's cache key) is what the generic rule gives: only this row's changes
            for f in r.Job.Flows do
                if f.Name <> "Euclidean" then
                    Expect.equal f.Training.Iterations (Reproduce.uciIterations Full IsotropicPrior f.Training.Flow (VelocityConfig.kind f.Training.Model)) $"{f.Name}: its length as before"
            Expect.equal (TrainingConfig.toMetadata { unaligned.Training with Iterations = 3000 }) (TrainingConfig.toMetadata (Reproduce.euclidLrJob Reproduce.uciEuclideanTraining "unused").Flows.Head.Training) "the row's every other setting as the 3,000-iteration recipe's"
            let s = MainJobConfig.samplingOf r.Job unaligned
            Expect.equal (s.Temperature, s.Steps) (0.9, 512) "sampled at R-τ₃'s τ with 512 steps, as judged"
            Expect.stringContains (r.Departures |> List.find (fun d -> d.Setting.StartsWith "iterations of the")).Ours "the unaligned Euclidean RT row 9000" "the departure states it"
            Expect.stringContains (r.Departures |> List.find (fun d -> d.Setting.StartsWith "iterations of the")).Why "docs/uci/long1.md" "and why"
            let s100 = Reproduce.withEuclideanSteps 100 r
            Expect.equal (MainJobConfig.samplingOf s100.Job (s100.Job.Flows |> List.find (fun f -> f.Name = "Euclidean"))).Temperature 0.7 "another step count: the row's R-τ τ (chosen at 100 steps for 3,000 iterations)"
            Expect.equal [ for f in (Reproduce.uciConfig Quick 0L "unused").Job.Flows do if f.Training.Flow = Euclidean then f.Training.Iterations ] (List.replicate 5 100) "the quick preset: 100 for every row"
            Expect.equal (Reproduce.uciFlows FittedPrior Full 0L |> List.find (fun f -> f.Name = "Euclidean")).Training.Iterations 1000 "the fitted prior: the canonical rows' 1,000"
            let other = Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 3000 3e-3) r
            Expect.equal [ for f in other.Job.Flows do if Reproduce.isEuclideanRtRow f then f.Training.Iterations ] [ 3000; 3000; 3000 ] "another recipe trains all three rows alike"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 9000 1e-3) r |> ignore) "9,000 for all three: no τ was chosen"
        }

        test "uci: the full preset samples the three nine-table Euclidean RT rows with 512 Euler steps and every other row with 100 (docs/uci/guided.md); --euclidean-steps overrides it, 100 restores the table before; bad values refused" {
            let r = Reproduce.uciConfig Full 0L "unused"
            let steps (c: MainJobConfig) (f: FlowRun) = (MainJobConfig.samplingOf c f).Steps
            Expect.equal Reproduce.uciEuclideanSteps 512 "the adopted count (docs/uci/guided-results.md)"
            Expect.equal r.Job.Sampling.Steps 100 "the job's own count, every other row's"
            let rows = [ "Euclidean"; "Euclidean (aligned)"; "Euclidean (aligned + OT)" ]
            Expect.equal [ for f in r.Job.Flows do if steps r.Job f = 512 then f.Name ] rows "the three rows at 512"
            Expect.isTrue (r.Job.Flows |> List.forall (fun f -> List.contains f.Name rows || steps r.Job f = 100)) "every other row at 100"
            // the samples' cache key and header carry the count, so samples of another count are never read back
            let f = r.Job.Flows |> List.find (fun f -> f.Name = "Euclidean (aligned)")
            Expect.contains (Sampling.metadata (MainJobConfig.samplingOf r.Job f)) ("sample.steps", "512") "recorded with the samples"
            Expect.equal (MainJobConfig.samplingOf r.Job f).Temperature 0.9 "the row at R-τ₃'s τ for 512 steps (docs/uci/tau3.md)"
            Expect.equal (r.Departures |> List.filter (fun d -> d.Setting.StartsWith "Euler steps of the Euclidean RT rows") |> List.length) 1 "the departure stated once"
            let s0 = Reproduce.withEuclideanSteps 100 r
            Expect.isTrue (s0.Job.Flows |> List.forall (fun f -> steps s0.Job f = 100)) "100 restores the table before the test"
            Expect.isTrue (s0.Job.Flows |> List.forall (fun f -> f.SamplingSteps.IsNone)) "no override left"
            Expect.isFalse (s0.Departures |> List.exists (fun d -> d.Setting.StartsWith "Euler steps of the Euclidean RT rows")) "and no departure"
            let s256 = Reproduce.withEuclideanSteps 256 r
            Expect.equal [ for f in s256.Job.Flows do if steps s256.Job f = 256 then f.Name ] rows "another count: the same three rows"
            Expect.equal (s256.Departures.Length) r.Departures.Length "the departure replaced, not added"
            Expect.equal [ for f in s256.Job.Flows do if not (List.contains f.Name rows) then (MainJobConfig.samplingOf s256.Job f).Temperature ] [ for f in r.Job.Flows do if not (List.contains f.Name rows) then (MainJobConfig.samplingOf r.Job f).Temperature ] "every other τ unchanged"
            Expect.equal [ for f in s256.Job.Flows do if List.contains f.Name rows then (MainJobConfig.samplingOf s256.Job f).Temperature ] [ 0.7; 0.7; 0.6 ] "another count: the three rows at their R-τ τs (chosen at 100 steps)"
            let quick = Reproduce.uciConfig Quick 0L "unused"
            Expect.isTrue (quick.Job.Flows |> List.forall (fun f -> steps quick.Job f = quick.Job.Sampling.Steps)) "the quick preset samples every row alike"
            let fitted = Reproduce.uciConfigWith FittedPrior Full 0L "unused"
            Expect.isTrue (fitted.Job.Flows |> List.forall (fun f -> steps fitted.Job f = 100)) "the fitted prior's Euclidean rows (τ chosen at 100 steps) keep 100"
            Expect.isTrue ((MainJobConfig.uci 0L "unused").Flows |> List.forall (fun f -> f.SamplingSteps.IsNone)) "the main job untouched"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withEuclideanSteps 0 r |> ignore) "no steps"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.withEuclideanSteps -5 r |> ignore) "negative steps"
        }

        test "uci: the full preset samples the three Euclidean RT rows at τ 0.9 with 512 steps (docs/uci/tau3.md) and at R-τ's 0.7 / 0.7 / 0.6 with 100; the quick preset, other recipes and --temperature keep theirs" {
            let r = Reproduce.uciConfig Full 0L "unused"
            let rows = [ "Euclidean"; "Euclidean (aligned)"; "Euclidean (aligned + OT)" ]
            let taus (c: UciReproduction) = [ for f in c.Job.Flows do if List.contains f.Name rows then f.Name, (MainJobConfig.samplingOf c.Job f).Temperature, (MainJobConfig.samplingOf c.Job f).Steps ]
            Expect.equal Reproduce.uciEuclideanPooledTemperature 0.9 "the adopted τ (docs/uci/tau3-results.md)"
            Expect.equal (taus r) [ for n in rows -> n, 0.9, 512 ] "the full preset: one τ for the three rows at 512 steps"
            let steps = r.Departures |> List.find (fun d -> d.Setting.StartsWith "Euler steps of the Euclidean RT rows")
            Expect.stringContains steps.Ours "τ 0.9 for the three" "the departure states the τ"
            Expect.stringContains steps.Why "docs/uci/tau3.md" "and where it was chosen"
            let explicit512 = Reproduce.withEuclideanSteps 512 r
            Expect.equal (taus explicit512) (taus r) "--euclidean-steps 512 is the default"
            let s100 = Reproduce.withEuclideanSteps 100 r
            Expect.equal (taus s100) [ "Euclidean", 0.7, 100; "Euclidean (aligned)", 0.7, 100; "Euclidean (aligned + OT)", 0.6, 100 ] "100 steps: R-τ's τs, the table before docs/uci/guided.md"
            Expect.equal (taus (Reproduce.withEuclideanSteps 512 s100)) (taus r) "and back"
            let quick = Reproduce.uciConfig Quick 0L "unused"
            Expect.equal [ for _, t, _ in taus (Reproduce.withEuclideanSteps 512 quick) -> t ] [ 0.7; 0.7; 0.6 ] "the quick preset's flows (another recipe) keep R-τ's τs even at 512 steps"
            let other = Reproduce.withEuclideanTraining (Reproduce.euclideanTraining 3000 3e-3) r
            Expect.equal [ for _, t, _ in taus other -> t ] [ 0.6; 0.7; 0.6 ] "another recipe keeps the τs R-τ chose for it"
            Expect.equal [ for _, t, _ in taus (Reproduce.withEuclideanSteps 512 other) -> t ] [ 0.6; 0.7; 0.6 ] "also when its steps are set"
            Expect.equal [ for _, t, _ in taus (Reproduce.withTemperature 1.0 r) -> t ] [ 1.0; 1.0; 1.0 ] "--temperature still sets every row"
        }

        test "uci (tiny): two rows end to end; the Fig. 7.3 sweep runs step counts in order, a stopped sweep reports its points and a re-run completes it unchanged" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-uci-{System.Guid.NewGuid():N}")
            try
                let q = Reproduce.uciConfig Quick 0L dir |> Reproduce.withRows [ "euclidean-aligned"; "normalized-aligned" ]
                let job =
                    { q.Job with
                        Zoo = { q.Job.Zoo with Runs = 6; Epochs = 3; DropEpochs = 1 }; Pairs = 10; HeldOutRuns = 2
                        Flows = q.Job.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 3; BatchSize = 8; Schedule = Constant } })
                        Sampling = { q.Job.Sampling with Count = 4; Steps = 3 } }
                let r = { q with Job = job; Steps = [ 2; 4 ]; SweepCount = 3 }
                let first = Reproduce.uci r ignore CancellationToken.None
                Expect.isTrue first.SweepComplete "complete"
                Expect.equal [ for p in first.Sweep -> p.Steps, p.Flow, p.Guided ]
                    [ for s in [ 2; 4 ] do for f in [ "Euclidean (aligned)"; "Normalized (aligned)" ] do for g in [ false; true ] -> s, f, g ]
                    "step counts in increasing order, each flow with and without guidance"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                let md = File.ReadAllText(Path.Combine(dir, "table-7.1.md"))
                Expect.stringContains md "| τ | accuracy" "each row's τ"
                Expect.stringContains md "| bar (vs τ = 1 Gaussian) | vs Gaussian at its τ 0.7 |" "the bar against the τ = 1 Gaussian, and against the Gaussian at its own τ"
                Expect.stringContains md "Against the fitted Gaussian at the τ the same rule chose for it (0.7):" "the done-when line counts both"
                Expect.stringContains md "UCI headline: a diagonal Gaussian fitted to the zoo and sampled at the τ the same rule R-τ chose for it (0.7)" "the τ-tuned Gaussian's comparison stated"
                Expect.stringContains md "of the 1 flow rows" "counted per space from the rows run"
                Expect.stringContains md "## Where the preset departs from the thesis' method" "the departures table"
                Expect.stringContains md "of the 2 rows run met it" "the done-when line counts the rows run"
                Expect.stringContains md "not run: Euclidean, Euclidean (aligned + OT), Normalized," "and names the thesis rows not run"
                Expect.isFalse (md.Contains "Partial sweep") "a complete sweep"
                for f in first.Job.Flows do
                    let meta = (let st = Storage.read f.Path in (for _, t in st.Tensors do t.Dispose()); st.Metadata)
                    let cpu = meta.TryFind "train.cpu_seconds" |> Option.map float
                    Expect.isTrue (cpu |> Option.exists (fun c -> c > 0.0)) $"{f.Name}: training CPU seconds recorded"
                    Expect.isNone (meta.TryFind "train.cpu_resumed") $"{f.Name}: trained in one call, not marked resumed"
                // drop the last three points, as if the run had been stopped there
                let points = Path.Combine(dir, "fig-7.3.points")
                let lines = File.ReadAllLines points
                File.WriteAllLines(points, Array.take (lines.Length - 3) lines)
                use cancelled = new CancellationTokenSource()
                cancelled.Cancel()
                let partial, complete = Reproduce.stepsSweep r (fun _ _ _ -> ()) cancelled.Token
                Expect.isFalse complete "stopped"
                Expect.equal partial (List.take 5 first.Sweep) "the points measured before the stop"
                let resumed = Reproduce.uci r ignore CancellationToken.None
                Expect.isTrue resumed.SweepComplete "completed by the re-run"
                // each point is sampled from the same seed whatever ran before it: the re-measured points are equal
                Expect.equal resumed.Sweep first.Sweep "the same points"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }

        test "uci: every row samples at the τ the pre-stated rule chose for it, the fitted Gaussian also at its own; both in the grid, both in the report's departures" {
            let rule = TemperatureSelection.preStated
            for preset in [ Quick; Full ] do
                let r = Reproduce.uciConfig preset 0L "unused"
                for f in r.Job.Flows do
                    let selected = Reproduce.uciSelectedTemperature Reproduce.uciEuclideanPrior f.Training.Flow (VelocityConfig.kind f.Training.Model) f.Training.Coupling f.Source
                    let tau = TemperatureSelection.temperature selected.Choice
                    // the full preset's three Euclidean RT rows sample at 512 steps, at the τ chosen for that sampler (docs/uci/tau3.md)
                    let expected = if preset = Full && Reproduce.isEuclideanRtRow f then Reproduce.uciEuclideanPooledTemperature else tau
                    Expect.equal f.SamplingTemperature (Some expected) $"{f.Name}: its own τ"
                    Expect.contains rule.Grid tau $"{f.Name}: τ {tau} from the grid"
                    Expect.isTrue (selected.DiversityRatio > 0.0 && System.Double.IsFinite selected.ValidationCrossEntropy) $"{f.Name}: what the rule saw is recorded"
                    let aboveFloor = match selected.Choice with TemperatureSelection.BestAboveFloor _ -> true | TemperatureSelection.NoneAboveFloor _ -> false
                    Expect.equal aboveFloor (selected.DiversityRatio >= rule.DiversityFloor) $"{f.Name}: the choice's kind agrees with its diversity"
                    Expect.stringContains r.Departures.Head.Ours $"{f.Name} {Report.inv tau} (" $"{f.Name}: its τ in the departures table"
                let g = TemperatureSelection.temperature Reproduce.uciGaussianSelected.Choice
                Expect.contains rule.Grid g "the Gaussian's τ from the grid"
                Expect.equal r.GaussianTemperature (Some g) "the Gaussian's own τ"
                Expect.equal r.Job.GaussianTemperatures [ g ] "drawn beside the τ = 1 Gaussian"
                // the steps sweep keeps the job's τ (measured before the rule)
                Expect.equal r.Job.Sampling.Temperature MainJobConfig.uciTemperature "the job's τ"
            Expect.throwsT<System.ArgumentException> (fun () -> Reproduce.uciSelectedTemperature IsotropicPrior Euclidean VelocityKind.Mlp MinibatchOt AlignedZoo |> ignore) "a row no rule chose for"
        }

        test "uci: the bar of a row is accuracy >= 0.98 and calibrated CE below the fitted Gaussian's of its table" {
            let row name acc ce : Evaluation.Row =
                { Name = name; Count = 4; AccuracyMean = acc; AccuracyMin = acc; AccuracyStd = 0.0; CrossEntropy = ce
                  CalibratedCrossEntropy = ce; CalibratedCrossEntropyMedian = ce; TemperatureMedian = 1.0; CalibrationAtBound = 0
                  Bma = { K = 1; Accuracy = acc; Nll = ce }; BmaCurve = []; Diversity = None; Fidelity = None; FidelityFloor = None
                  SlicedWasserstein = None; SlicedWassersteinFloor = None; NearestTrainingMedian = None; NoveltyRatio = None; Seconds = 0.0 }
            let table flows = { Space = "raw"; Flows = flows; Baselines = [ row "zoo mean" 0.99 0.03; row "fitted Gaussian" 0.98 0.05 ] }
            let t = table []
            Expect.equal (Reproduce.verdict t (row "a" 0.98 0.049)) "met" "on the accuracy bar, CE below"
            Expect.stringContains (Reproduce.verdict t (row "b" 0.979 0.04)) "accuracy 0.9790 < 0.98" "accuracy below"
            // 0.055 / 0.05 - 1 = +10.0%
            Expect.stringContains (Reproduce.verdict t (row "c" 0.99 0.055)) "(+10.0%)" "CE above, by how much"
            Expect.stringContains (Reproduce.verdict t (row "d" 0.99 0.05)) "missed" "a tie is not below"
            // against the Gaussian at its own τ: the row of that name
            let tempered = { t with Baselines = t.Baselines @ [ row (Reproduce.gaussianRow 0.7) 0.98 0.04 ] }
            Expect.equal (Reproduce.gaussianRow 0.7) "fitted Gaussian (τ 0.7)" "MainJob's name of the tempered row"
            Expect.equal (Reproduce.gaussianRow 1.0) "fitted Gaussian" "τ = 1 is the plain row"
            Expect.equal (Reproduce.verdictAgainst (Reproduce.gaussianRow 0.7) tempered (row "e" 0.99 0.039)) "met" "below the tempered Gaussian"
            // 0.045 / 0.04 - 1 = +12.5%
            Expect.stringContains (Reproduce.verdictAgainst (Reproduce.gaussianRow 0.7) tempered (row "f" 0.99 0.045)) "(+12.5%)" "above it, by how much"
            Expect.equal (Reproduce.verdict tempered (row "f" 0.99 0.045)) "met" "while below the τ = 1 one"
            Expect.stringContains (Reproduce.verdictAgainst (Reproduce.gaussianRow 0.9) tempered (row "g" 0.99 0.01)) "no 'fitted Gaussian (τ 0.9)' row" "a missing baseline is said"
        }
    ]

/// A tiny 784-feature CSV stand-in for MNIST in `dir`: 600 rows (every class in every split), 10 classes; class c
/// lights up features 70c..70c+69, so it is learnable in a few epochs. `seed` draws the noise.
let private fakeMnistCsv (dir: string) (seed: int) =
    let rng = System.Random(seed)
    let csv = Path.Combine(dir, "fake-mnist.csv")
    File.WriteAllLines(csv,
        [| for i in 0 .. 599 ->
            let c = i % 10
            String.concat "," [ for j in 0 .. 783 -> (if j / 70 = c then 1.0 + rng.NextDouble() else rng.NextDouble() * 0.3).ToString("F2", System.Globalization.CultureInfo.InvariantCulture) ]
            + $",{c}" |])
    csv

/// Fig. 7.7's one change: every training setting of each width's flow is `reference`'s but the RT's width (d 16 is
/// `reference` itself), trained on its targets (docs/mnist/width.md, wides.md).
let private expectOnlyWidthDiffers (flows: FlowRun list) (reference: FlowRun) (what: string) =
    let meta (f: FlowRun) = TrainingConfig.toMetadata f.Training
    let widthKeys = set [ "model.node_width"; "model.edge_width"; "model.attention_width"; "model.node_hidden"; "model.edge_hidden"; "model.output_hidden" ]
    for f in flows do
        let w = fst (VelocityConfig.size f.Training.Model)
        let differing = List.zip (meta f) (meta reference) |> List.filter (fun (a, b) -> a <> b) |> List.map (fst >> fst)
        Expect.equal (meta f |> List.map fst) (meta reference |> List.map fst) $"d {w}: the same settings"
        Expect.isTrue (differing |> List.forall widthKeys.Contains) $"d {w}: only width settings differ from {what}'s, got %A{differing}"
        if w = 16 then Expect.isEmpty differing $"d 16 is {what} itself"
        Expect.equal f.Source reference.Source $"d {w}: {what}'s targets"

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
            // Table 7.3 / 7.4: the thesis' λ 0.1 in both presets, `full` adds λ 10 (README "Guided transfer"); the anchor
            // rule, under which guidance is not steered back (Ode.Guidance's closed-form test)
            for preset, lambdas in [ Quick, [ 0.1 ]; Full, [ 0.1; 10.0 ] ] do
                let t = ReproduceTransfer.config preset 0L "unused"
                Expect.equal t.Lambdas lambdas $"{preset}: λ"
                Expect.equal t.Rule VelocityRule.AnchorDisplacement $"{preset}: the anchor rule"
            Expect.isTrue q.Job.FullCovarianceBaseline "the full-covariance Gaussian in Table 7.2 (issue 13)"
            Expect.isFalse (MainJobConfig.uci 0L "unused").FullCovarianceBaseline "not in the UCI main job (its tables unchanged)"
            let scaling = ReproduceScaling.config Full 0L "unused"
            Expect.equal [ for f in scaling.Job.Flows -> fst (VelocityConfig.size f.Training.Model) ] [ 8; 16; 32 ] "Fig. 7.7's widths"
            Expect.isTrue (scaling.Job.Flows |> List.forall (fun f -> f.Training.Flow = Geometric && f.Training.Coupling = SymmetryAware)) "one flow kind, only the width varies"
            Expect.isTrue (scaling.Job.Flows |> List.forall (fun f -> f.Training.Prior.Centre = ReproduceScaling.prior && f.Training.Iterations = ReproduceScaling.FullIterations))
                "one prior (the full-covariance fit, docs/mnist/geo-flows.md) and the same iterations at every width (thesis §7.3.5)"
            Expect.equal (scaling.Departures |> List.map (fun d -> d.Setting)) [ "data"; "flows"; "velocity model"; "iterations"; "coupling"; "prior"; "samples" ] "fig-7.7.md states every departure"
            let full = ReproduceMnist.config Full 0L "unused"
            Expect.equal full.Job.Zoo.Runs ZooConfig.mnist.Runs "appendix A zoo"
            Expect.equal full.Steps [ 8; 16; 32; 64; 128; 256 ] "Fig. 7.4's step counts (512 cut: the preset's departures)"
            // the full preset's Fig. 7.4 covers the best RT flow only (departures table), a flow of the job
            Expect.equal full.StepsFlows (SweepFlows.Named [ full.Job.Flows.Head.Name ]) "Fig. 7.4: the full-covariance RT flow only"
            Expect.isTrue (full.Departures |> List.exists (fun d -> d.Setting = "Fig. 7.4")) "the cut is stated in the departures table"
            Expect.stringContains full.Job.Flows.Head.Name "full-covariance" "the strongest RT flow first (README \"MNIST flows\")"
            Expect.equal full.Job.Flows.Head.Training.Iterations 800 "the measured fc1 recipe"
            Expect.equal full.Job.Flows.Head.Training.Prior.Centre (FitFullToTargets { Standardized = true; Rank = 512; LinearSkip = false }) "fc1's prior"
            Expect.equal full.Job.Flows[1].Training.Iterations 1000 "then the measured s1 recipe"
            for f in full.Job.Flows do
                let expected = if VelocityConfig.kind f.Training.Model = VelocityKind.Mlp then 1e-3 else 3e-3
                Expect.equal f.Training.LearningRate expected $"{f.Name}: the measured MNIST learning rate (README \"MNIST flows\")"
            for f in full.Job.Flows do
                Expect.isTrue (ReproduceMnist.thesisTable72 |> List.exists (fun (n, _) -> n = f.Name) || f.Name.Contains "symmetry" || f.Name.Contains "MLP" || f.Name.Contains "standardized" || f.Name.Contains "full-covariance")
                    $"{f.Name}: a Table 7.2 row, or one of our extra rows"
        }

        test "the pipeline end to end on a tiny 784-feature CSV stand-in for MNIST: tables, sweeps and PNGs, read back on a re-run" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-mnist-{System.Guid.NewGuid():N}")
            try
                Directory.CreateDirectory dir |> ignore
                let csv = fakeMnistCsv dir 3
                let q = ReproduceMnist.config Quick 0L (Path.Combine(dir, "out"))
                // the Geometric (isotropic prior) and the standardized Euclidean flow: both priors through every stage,
                // the fitted one also tiled to 784-32-10 by `wider`
                let flows = q.Job.Flows |> List.filter (fun f -> f.Name = "Geometric (aligned + symmetry)" || f.Name.Contains "standardized") |> List.map (fun f -> { f with Training = { f.Training with Iterations = 3 } })
                let r = { q with Job = { q.Job with Task = Task.Csv csv; Flows = flows; Zoo = { q.Job.Zoo with Runs = 4; Every = 2; Epochs = 2; DropEpochs = 0 }; Pairs = 4 }
                                 Steps = [ 2 ]; SweepCount = 2; Noise = [ 0.0 ]; Temperatures = [ 1.0; 0.5 ]
                                 StepsFlows = SweepFlows.Named [ flows[1].Name ] }
                // a Fig. 7.4 flow that is not one of the job's: one clear error before any sampling
                let bad = { r with StepsFlows = SweepFlows.Named [ "no such flow" ] }
                Expect.throwsC (fun () -> ReproduceMnist.stepsSweep bad (fun _ _ _ -> ()) CancellationToken.None |> ignore)
                    (fun e -> Expect.stringContains e.Message "no such flow" "names the flow")
                let first = ReproduceMnist.run r ignore CancellationToken.None
                Expect.equal [ for p in first.Sweep -> p.Flow, p.Guided ] [ flows[1].Name, false; flows[1].Name, true ] "Fig. 7.4: the named flow only, guided and not"
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "out", "table-7.2.md"))) "smoke run" "the preset's departures in Table 7.2's report"
                Expect.equal [ for p in first.NoiseSweep -> p.Flow, p.Eps, p.Tau ]
                    ([ for f in flows do yield f.Name, 0.0, 1.0; yield f.Name, 0.0, 0.5 ]
                     @ [ for g in [ ReproduceMnist.GaussianName; Evaluation.FullGaussianName ] do yield g, 0.0, 1.0; yield g, 0.0, 0.5 ])
                    "per flow ε 0 at τ 1 and τ 0.5, then the fitted and the full-covariance Gaussian at both τ"
                // Table 7.2's baselines: the full-covariance Gaussian beside the three, in each space (issue 13)
                for t in first.Job.Tables do
                    Expect.equal (t.Baselines |> List.map (fun row -> row.Name)) [ "zoo mean"; "fitted Gaussian"; "held-out"; Evaluation.FullGaussianName ] $"{t.Space}: four baselines"
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "out", "table-7.2.md"))) Evaluation.FullGaussianName "its row in Table 7.2"
                for p in first.NoiseSweep do Expect.isTrue (System.Double.IsFinite p.NoveltyRatio) $"{p.Flow}: a novelty ratio"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                Expect.stringContains (File.ReadAllText(Path.Combine(dir, "out", "table-7.2.md"))) "0.786 ± 0.064" "the thesis' Table 7.2 beside ours"
                let second = ReproduceMnist.run r ignore CancellationToken.None
                Expect.equal second.Sweep first.Sweep "sweep read back"
                Expect.equal second.NoiseSweep first.NoiseSweep "noise sweep read back"
                // transfer (Table 7.3, Fig. 7.6) and wider (Table 7.4) on the same flows, the CSV standing in for Fashion-MNIST
                let t = { ReproduceTransfer.config Quick 0L "unused" with Mnist = r; Target = Task.Csv csv; Count = 2; Steps = 2; AdamIterations = 4; AdamEvery = 2 }
                let transfer = ReproduceTransfer.fashionTransfer t ignore CancellationToken.None
                let flowRows = transfer.Rows |> List.filter (fun row -> not (row.Flow.EndsWith "no flow"))
                Expect.equal (transfer.Rows |> List.filter (fun row -> row.Flow.EndsWith "no flow") |> List.map (fun row -> row.Flow, row.Setting))
                    [ "N(0, 0.1² I), no flow", "guidance only λ = 0.1" ] "the Gaussian initialisation + guidance control, once per λ"
                Expect.equal (flowRows |> List.map (fun row -> row.Setting) |> List.distinct)
                    [ "no guidance (anchor rule)"; "guided λ = 0.1 (anchor rule)"; "prior + guidance only λ = 0.1 (velocity 0)" ]
                    "unguided, guided and the guidance-only control per flow (the thesis code's rule)"
                Expect.equal flowRows.Length (3 * flows.Length) "three rows per flow"
                Expect.isNone transfer.Job.TrainingSeconds "the MNIST job's zoo read back"
                Expect.equal flows.Length 2 "two flows"
                Expect.equal (transfer.Curves |> List.map (fun cv -> cv.Iterations)) [ [| 0; 2; 4 |]; [| 0; 2; 4 |] ] "the Gaussian curve and the Euclidean RT flow's"
                // the diagnosis' probe (docs/mnist/fashion-transfer.md) sees the networks the curve evaluates, at its iterations
                let data = Sources.load (Task.Csv csv) 0L
                let seen = ResizeArray<int * float>()
                let layout = r.Job.Zoo.Layout
                use gen = Scope.Rng.create 5L
                use theta0 = Mlp.init gen torch.CPU layout 2 0.1
                let probed =
                    ReproduceTransfer.adamTrajectory t layout data "probe"
                        (fun k theta -> seen.Add((k, (Mlp.accuracy layout theta data.Test.X data.Test.Y).to_type(torch.float64).mean().ToDouble()))) theta0
                Expect.equal [ for k, _ in seen -> k ] (List.ofArray probed.Iterations) "the probe at every evaluated iteration"
                // the same float32 accuracies averaged in float64 both times: equal up to summation order
                for (_, a), b in Seq.zip seen probed.AccuracyMean do Expect.floatClose { absolute = 1e-9; relative = 0.0 } a b "the probe's networks are the curve's"
                let wide = ReproduceTransfer.wider t ignore CancellationToken.None
                Expect.equal (wide.Rows |> List.map (fun row -> row.Count)) [ 2; 2; 2; 2; 2; 2; 2 ] "784-32-10 samples: the Gaussian control, then unguided, guided and the control per flow"
                for f in transfer.Files @ wide.Files do Expect.isTrue (File.Exists f) f
                let again = ReproduceTransfer.fashionTransfer t ignore CancellationToken.None
                Expect.equal again.Rows transfer.Rows "rows read back"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }

        test "Fig. 7.7 --flow euclidean: N's recipe (reproduce mnist's first flow) at RT widths 8 / 16 / 32, only the width varies; other names, other cache keys; unknown kinds refused" {
            Expect.equal (ReproduceScaling.parseFlow " Euclidean ") Euclidean "euclidean"
            Expect.equal (ReproduceScaling.parseFlow "geometric") Geometric "geometric"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.parseFlow "normalized" |> ignore) "not offered"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.parseFlow "euclid" |> ignore) "an unknown kind"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.trainingOf Normalized Full 0L 16 |> ignore) "no Normalized widths"
            let e = ReproduceScaling.configOf Euclidean Full 0L "unused"
            let g = ReproduceScaling.config Full 0L "unused"
            Expect.equal [ for f in e.Job.Flows -> fst (VelocityConfig.size f.Training.Model) ] [ 8; 16; 32 ] "Fig. 7.7's widths"
            let n = (ReproduceMnist.config Full 0L "unused").Job.Flows.Head
            Expect.equal n.Name "Euclidean (aligned, full-covariance prior)" "N is reproduce mnist's first flow"
            expectOnlyWidthDiffers e.Job.Flows n "N"
            Expect.equal (e.Job.Flows |> List.map (fun f -> f.Name)) [ "Euclidean RT d 8"; "Euclidean RT d 16"; "Euclidean RT d 32" ] "named by kind and width"
            Expect.isTrue (List.forall2 (fun (a: FlowRun) (b: FlowRun) -> MainJob.flowPath e.Job a <> MainJob.flowPath g.Job b) e.Job.Flows g.Job.Flows) "other flow files than the Geometric widths'"
            Expect.equal (ReproduceScaling.spaceOf Euclidean, ReproduceScaling.spaceOf Geometric) ("raw", "canonical") "the tables' spaces"
            Expect.stringContains (e.Departures |> List.find (fun d -> d.Setting = "flows")).Why "NOT shown" "the departure from the thesis' Geometric claim stated"
        }

        test "Fig. 7.7 --prior standardized: Table 7.2's standardized RT row (reproduce mnist's second flow) at RT widths 8 / 16 / 32, only the width varies; --prior full is --flow euclidean as before; bad priors refused" {
            Expect.equal (ReproduceScaling.parsePrior " Standardized ") ScalingPrior.Standardized "standardized"
            Expect.equal (ReproduceScaling.parsePrior "full") ScalingPrior.FullCovariance "full"
            for bad in [ "diagonal"; "standardized-full"; "" ] do
                Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.parsePrior bad |> ignore) $"'{bad}' refused"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.configWith Geometric ScalingPrior.Standardized Full 0L "unused" |> ignore) "no standardized Geometric widths"
            let s = ReproduceScaling.configWith Euclidean ScalingPrior.Standardized Full 0L "unused"
            let n = ReproduceScaling.configWith Euclidean ScalingPrior.FullCovariance Full 0L "unused"
            let e = ReproduceScaling.configOf Euclidean Full 0L "unused"
            let meta (f: FlowRun) = TrainingConfig.toMetadata f.Training
            Expect.equal (n.Job.Flows |> List.map (fun f -> f.Name, meta f)) (e.Job.Flows |> List.map (fun f -> f.Name, meta f)) "--prior full is --flow euclidean's N recipe"
            let row = (ReproduceMnist.config Full 0L "unused").Job.Flows[1]
            Expect.equal row.Name "Euclidean (aligned, standardized prior)" "Table 7.2's standardized RT row is reproduce mnist's second flow"
            Expect.equal row.Training.Prior.Centre (FitToTargets true) "the row's prior: the diagonal fit, standardized"
            Expect.equal [ for f in s.Job.Flows -> fst (VelocityConfig.size f.Training.Model) ] [ 8; 16; 32 ] "Fig. 7.7's widths"
            expectOnlyWidthDiffers s.Job.Flows row "the row"
            for f in s.Job.Flows do
                Expect.equal f.Training.Iterations ReproduceScaling.StandardizedIterations $"d {fst (VelocityConfig.size f.Training.Model)}: the row's 1,000 iterations at every width"
            Expect.equal (s.Job.Flows |> List.map (fun f -> f.Name)) [ for w in [ 8; 16; 32 ] -> $"Euclidean RT d {w}, standardized prior" ] "named by kind, width and prior"
            Expect.isTrue (List.forall2 (fun (a: FlowRun) (b: FlowRun) -> MainJob.flowPath s.Job a <> MainJob.flowPath n.Job b) s.Job.Flows n.Job.Flows) "other flow files than N's widths'"
            Expect.stringContains (s.Departures |> List.find (fun d -> d.Setting = "iterations")).Ours "1000 x batch 16" "the departure states the iterations"
            Expect.stringContains (s.Departures |> List.find (fun d -> d.Setting = "prior")).Ours "diagonal" "the departure states the prior"
            Expect.stringContains (s.Departures |> List.find (fun d -> d.Setting = "flows")).Why "NOT shown" "the departure from the thesis' Geometric claim stated"
            let q = ReproduceScaling.configWith Euclidean ScalingPrior.Standardized Quick 0L "unused"
            Expect.isTrue (q.Job.Flows |> List.forall (fun f -> f.Training.Prior.Centre = FitToTargets true)) "quick: the same prior"
        }

        test "Fig. 7.7 --lr-scaling inverse-width: lr × 8/d at each Euclidean width (d 8 unchanged, its flow and cache key the default's), the changed widths named by their lr; none is the default; bad values refused" {
            Expect.equal (ReproduceScaling.parseLrScaling " Inverse-Width ") ScalingLr.InverseWidth "inverse-width"
            Expect.equal (ReproduceScaling.parseLrScaling "none") ScalingLr.Constant "none"
            for bad in [ "inverse"; "8/d"; "mup"; "" ] do
                Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.parseLrScaling bad |> ignore) $"'{bad}' refused"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.scaledLr ScalingLr.InverseWidth 3e-3 0 |> ignore) "width 0 refused"
            // x 8 / d with d a power of two only changes the exponent, so these are exact
            Expect.equal [ for w in [ 8; 16; 32 ] -> ReproduceScaling.scaledLr ScalingLr.InverseWidth 3e-3 w ] [ 3e-3; 1.5e-3; 7.5e-4 ] "3e-3 x 8/d"
            Expect.equal [ for w in [ 8; 16; 32 ] -> ReproduceScaling.scaledLr ScalingLr.Constant 3e-3 w ] [ 3e-3; 3e-3; 3e-3 ] "none: the recipe's lr"
            let meta (f: FlowRun) = TrainingConfig.toMetadata f.Training
            for prior in [ ScalingPrior.Standardized; ScalingPrior.FullCovariance ] do
                let d = ReproduceScaling.configWith Euclidean prior Full 0L "unused"
                let none = ReproduceScaling.configWithLr Euclidean prior ScalingLr.Constant Full 0L "unused"
                Expect.equal (none.Job.Flows |> List.map (fun f -> f.Name, meta f)) (d.Job.Flows |> List.map (fun f -> f.Name, meta f)) $"{prior}: none is configWith"
                let s = ReproduceScaling.configWithLr Euclidean prior ScalingLr.InverseWidth Full 0L "unused"
                Expect.equal [ for f in s.Job.Flows -> f.Training.LearningRate ] [ 3e-3; 1.5e-3; 7.5e-4 ] $"{prior}: lr x 8/d"
                Expect.equal (s.Job.Flows.Head.Name, meta s.Job.Flows.Head) (d.Job.Flows.Head.Name, meta d.Job.Flows.Head) $"{prior}: d 8 is the default's flow (its file and cache key reused)"
                Expect.equal [ for f in s.Job.Flows.Tail -> f.Name ] [ for f, lr in List.zip d.Job.Flows.Tail [ "0.0015"; "0.00075" ] -> $"{f.Name}, lr {lr}" ] $"{prior}: the changed widths named by their lr"
                for a, b in List.zip s.Job.Flows.Tail d.Job.Flows.Tail do
                    Expect.notEqual (MainJob.flowPath s.Job a) (MainJob.flowPath d.Job b) $"{a.Name}: its own file"
                    let differing = List.zip (meta a) (meta b) |> List.filter (fun (x, y) -> x <> y) |> List.map (fst >> fst)
                    Expect.equal differing [ "train.lr" ] $"{a.Name}: only the lr differs from the default's"
                Expect.stringContains (s.Departures |> List.find (fun x -> x.Setting = "iterations")).Ours "8/d" $"{prior}: the departure states the lr"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.configWithLr Geometric ScalingPrior.FullCovariance ScalingLr.InverseWidth Full 0L "unused" |> ignore) "no lr scaling for the Geometric widths"
        }

        test "Fig. 7.7 paired differences: mean and standard error of x_i − y_i by hand; the comparisons the width rule reads" {
            // d = [1, 2, 3]: mean 2, sd 1 (Bessel), SE 1/√3
            let m, se = ReproduceScaling.paired [| 1.5; 2.0; 3.5 |] [| 0.5; 0.0; 0.5 |]
            Expect.floatClose Accuracy.veryHigh m 2.0 "mean difference"
            Expect.floatClose Accuracy.veryHigh se (1.0 / sqrt 3.0) "SE = sd / √n"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.paired [| 1.0; 2.0 |] [| 1.0 |] |> ignore) "unequal lengths"
            Expect.throwsT<System.ArgumentException> (fun () -> ReproduceScaling.paired [| 1.0 |] [| 1.0 |] |> ignore) "one pair has no SE"
            let row name (a: float) = name, [| a; a + 0.1; a - 0.1 |], [| 1.0 - a; 1.1 - a; 0.9 - a |]
            let pairs = ReproduceScaling.pairedDifferences [ row "d 8" 0.5; row "d 16" 0.6; row "d 32" 0.8 ] (row "prior" 0.4)
            Expect.equal [ for p in pairs -> p.A, p.B ] [ "d 16", "d 8"; "d 32", "d 16"; "d 32", "d 8"; "d 8", "prior"; "d 16", "prior"; "d 32", "prior" ] "steps, span, each against the prior"
            Expect.floatClose Accuracy.high pairs[2].AccuracyDifference 0.3 "d 32 − d 8"
            Expect.floatClose Accuracy.high pairs[2].CalibratedCeDifference -0.3 "its CE"
        }

        test "Fig. 7.7 end to end on a tiny 784-feature CSV: one row per width, the prior-alone control (velocity 0) and the baselines in fig-7.7.md, read back on a re-run" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-scaling-{System.Guid.NewGuid():N}")
            try
                Directory.CreateDirectory dir |> ignore
                // 600 rows, 784 features, 10 classes, as the MNIST test above (every class in every split)
                let csv = fakeMnistCsv dir 5
                let q = ReproduceScaling.config Quick 0L (Path.Combine(dir, "out"))
                Expect.equal [ for f in q.Job.Flows -> fst (VelocityConfig.size f.Training.Model) ] [ 4; 8 ] "quick: two widths"
                let flows = q.Job.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 2 } })
                let r = { q with Job = { q.Job with Task = Task.Csv csv; Flows = flows; Zoo = { q.Job.Zoo with Runs = 4; Every = 2; Epochs = 2; DropEpochs = 0 }; Pairs = 4
                                                    Sampling = { q.Job.Sampling with Count = 4; Steps = 2 }; Evaluation = { q.Job.Evaluation with BmaK = 4 } } }
                let first = ReproduceScaling.run r ignore CancellationToken.None
                Expect.equal [ for p in first.Points -> p.Width ] [ 4; 8 ] "one point per width"
                Expect.isTrue (first.Points[0].Parameters < first.Points[1].Parameters) "the wider RT has more parameters"
                for p in first.Points do Expect.isTrue (System.Double.IsFinite p.TrainingCpuSeconds) $"d {p.Width}: training CPU s read from the flow's header"
                Expect.equal first.PriorAlone.Name ReproduceScaling.PriorAloneName "the control row"
                Expect.equal first.PriorAlone.Count 4 "as many prior draws as samples per width"
                Expect.equal (first.Baselines |> List.map (fun b -> b.Name)) [ "zoo mean"; "fitted Gaussian"; "held-out"; Evaluation.FullGaussianName ] "the canonical baselines"
                let md = File.ReadAllText(Path.Combine(dir, "out", "fig-7.7.md"))
                for text in [ ReproduceScaling.PriorAloneName; "smoke run"; "0.786"; "accuracy − prior alone" ] do Expect.stringContains md text $"fig-7.7.md names {text}"
                for f in first.Files do Expect.isTrue (File.Exists f) f
                let second = ReproduceScaling.run r ignore CancellationToken.None
                Expect.equal second.PriorAlone.AccuracyMean first.PriorAlone.AccuracyMean "the control read back"
                Expect.equal [ for p in second.Points -> p.AccuracyMean ] [ for p in first.Points -> p.AccuracyMean ] "the flows' rows read back"
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }

        test "Fig. 7.7 --flow euclidean end to end on a tiny 784-feature CSV: the raw-space table, the control in the raw space, paired differences that match the rows" {
            let dir = Path.Combine(Path.GetTempPath(), $"wf-scaling-e-{System.Guid.NewGuid():N}")
            try
                Directory.CreateDirectory dir |> ignore
                let csv = fakeMnistCsv dir 5
                let q = ReproduceScaling.configOf Euclidean Quick 0L (Path.Combine(dir, "out"))
                let flows = q.Job.Flows |> List.map (fun f -> { f with Training = { f.Training with Iterations = 2 } })
                let r = { q with Job = { q.Job with Task = Task.Csv csv; Flows = flows; Zoo = { q.Job.Zoo with Runs = 4; Every = 2; Epochs = 2; DropEpochs = 0 }; Pairs = 4
                                                    Sampling = { q.Job.Sampling with Count = 4; Steps = 2 }; Evaluation = { q.Job.Evaluation with BmaK = 4 } } }
                let res = ReproduceScaling.run r ignore CancellationToken.None
                Expect.equal [ for p in res.Points -> p.Width ] [ 4; 8 ] "one point per width"
                Expect.isTrue (res.Job.Tables |> List.exists (fun t -> t.Space = "raw")) "Euclidean flows are judged in the raw space"
                // two widths: one step, no span, each width against the prior alone
                Expect.equal [ for p in res.Paired -> p.A, p.B ] [ "Euclidean RT d 8", "Euclidean RT d 4"; "Euclidean RT d 4", ReproduceScaling.PriorAloneName; "Euclidean RT d 8", ReproduceScaling.PriorAloneName ] "the comparisons"
                // the per-network numbers are the rows' networks: the mean of differences is the difference of the
                // rows' means (float64 sums of the same values in another order: 1e-9)
                let p4, p8 = res.Points[0], res.Points[1]
                Expect.floatClose { absolute = 1e-9; relative = 0.0 } res.Paired[0].AccuracyDifference (p8.AccuracyMean - p4.AccuracyMean) "d 8 − d 4 accuracy"
                Expect.floatClose { absolute = 1e-9; relative = 0.0 } res.Paired[1].AccuracyDifference (p4.AccuracyMean - res.PriorAlone.AccuracyMean) "d 4 − prior accuracy"
                Expect.floatClose { absolute = 1e-9; relative = 0.0 } res.Paired[2].CalibratedCeDifference (p8.CalibratedCrossEntropy - res.PriorAlone.CalibratedCrossEntropy) "d 8 − prior calibrated CE"
                let md = File.ReadAllText(Path.Combine(dir, "out", "fig-7.7.md"))
                for text in [ "Euclidean flow"; "raw space"; "Paired differences"; ReproduceScaling.PriorAloneName ] do Expect.stringContains md text $"fig-7.7.md names {text}"
                for f in res.Files do Expect.isTrue (File.Exists f) f
            finally
                if Directory.Exists dir then Directory.Delete(dir, true)
        }
    ]
