module WeightFlow.Tests.TestPrior

open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow

let private layout = Layout.parse "3-2-2"

/// 400 networks with per-parameter means 0.1·i and standard deviations 0.01·(i + 1), i the parameter's index.
let private targets () =
    use gen = Scope.Rng.create 4L
    let p = int64 (Layout.paramCount layout)
    let idx = torch.arange(p, dtype = torch.float32)
    torch.randn([| 400L; p |], generator = gen) * ((idx + 1.0) * 0.01) + idx * 0.1

let private centre (prior: Prior) =
    match prior.Centre with
    | Fitted g -> g.Layout, g.Mean, g.Std
    | c -> failtest $"expected a fitted prior, got {Prior.centreText c}"

[<Tests>]
let tests =
    testList "Prior" [
        test "the fitted prior holds the targets' per-parameter mean and standard deviation, and samples from them" {
            let x = targets ()
            let l, mean, std = centre { Std = 0.1; Centre = Prior.fit false layout x }
            Expect.equal l layout "layout of the fit"
            // the fit is a float64 reduction of float32 data stored as float32: equal to the direct float32 statistic
            // within a few float32 roundings of values up to ~1.6
            Expect.allClose 1e-5 mean (x.mean([| 0L |])) "mean"
            Expect.allClose 1e-5 std (x.std(0L, false)) "std"
            let space = FlowSpace.create FlowKind.Euclidean 0.0 layout
            use gen = Scope.Rng.create 1L
            let s = Prior.sample { Std = 0.1; Centre = Fitted { Layout = l; Mean = mean; Std = std; Standardized = false } } space gen torch.CPU 4000
            // 4,000 draws: the sample mean's standard error is std/63 <= 0.0003; allow 5 standard errors
            Expect.isLessThan ((s.mean([| 0L |]) - mean).abs().max().ToDouble()) (5.0 * 0.17 / 63.0) "sample mean"
            // the sample std's relative standard error is ~1/√8000 = 1.1%; allow 5%
            Expect.isLessThan ((s.std(0L) / std - 1.0).abs().max().ToDouble()) 0.05 "sample std"
        }

        test "a fitted prior extends to wider hidden layers by reusing neuron k mod h, and refuses other layouts" {
            let p = Layout.paramCount layout
            let v = torch.arange(int64 p, dtype = torch.float32)
            let wide = Layout.parse "3-5-2"
            let t = Prior.tile layout wide v
            Expect.equal (int t.shape[0]) (Layout.paramCount wide) "wide length"
            let w0 = Layout.weightT layout 0 (v.unsqueeze(0L))     // [1, 3, 2]
            let w0w = Layout.weightT wide 0 (t.unsqueeze(0L))      // [1, 3, 5]
            let w1 = Layout.weightT layout 1 (v.unsqueeze(0L))     // [1, 2, 2]
            let w1w = Layout.weightT wide 1 (t.unsqueeze(0L))      // [1, 5, 2]
            for k in 0 .. 4 do
                Expect.bitExact (w0w.select(2L, int64 k)) (w0.select(2L, int64 (k % 2))) $"incoming weights of neuron {k}"
                Expect.bitExact (w1w.select(1L, int64 k)) (w1.select(1L, int64 (k % 2))) $"outgoing weights of neuron {k}"
                Expect.bitExact ((Layout.bias wide 0 (t.unsqueeze(0L))).select(1L, int64 k)) ((Layout.bias layout 0 (v.unsqueeze(0L))).select(1L, int64 (k % 2))) $"bias of neuron {k}"
            Expect.bitExact (Layout.bias wide 1 (t.unsqueeze(0L))) (Layout.bias layout 1 (v.unsqueeze(0L))) "output biases unchanged"
            Expect.bitExact (Prior.tile layout layout v) v "same layout: unchanged"
            for bad in [ "3-1-2"; "3-2-2-2"; "4-2-2" ] do
                Expect.throwsT<Check.WeightFlowError> (fun () -> Prior.tile layout (Layout.parse bad) v |> ignore) $"{bad} refused"
        }

        test "training with FitToTargets fits the prior to the targets and a saved flow (and checkpoint) keeps it" {
            let x = targets ()
            let c = { TrainingConfig.cpu FlowKind.Geometric VelocityKind.Rt with
                        Model = VelocityConfig.defaults VelocityKind.Rt 8 1; Iterations = 3; BatchSize = 4; CheckpointEvery = 2
                        Coupling = Independent; Prior = { Prior.defaults with Centre = FitToTargets false } }
            let path = Path.Combine(Path.GetTempPath(), $"wf-prior-{System.Guid.NewGuid():N}.safetensors")
            try
                use cts = new CancellationTokenSource()
                let r = Training.train c layout x (Some path) (fun p -> if p.Step = 2 then cts.Cancel()) cts.Token
                let _, mean, std = centre r.Flow.Prior
                Expect.allClose 1e-5 mean (x.mean([| 0L |])) "fitted mean"
                // the checkpoint reads as a flow with the same prior, bit for bit
                let _, m2, s2 = centre (Flow.load torch.CPU path).Prior
                Expect.bitExact m2 mean "checkpoint: mean"
                Expect.bitExact s2 std "checkpoint: std"
                let done' = Training.train c layout x (Some path) ignore CancellationToken.None
                Expect.equal done'.Outcome Completed "resumed"
                Flow.save path done'.Flow
                let loaded = Flow.load torch.CPU path
                let _, m3, s3 = centre loaded.Prior
                Expect.bitExact m3 mean "flow file: mean"
                Expect.bitExact s3 std "flow file: std"
                // sampling starts from the fitted prior: with 0 steps impossible, so compare prior draws directly
                use g1 = Scope.Rng.create 3L
                use g2 = Scope.Rng.create 3L
                Expect.bitExact (Flow.samplePrior loaded g1 torch.CPU 2) (Prior.sample done'.Flow.Prior done'.Flow.Space g2 torch.CPU 2) "same prior draws"
                Expect.throwsT<System.ArgumentException>
                    (fun () -> Sampling.logLikelihood Divergence.Exact 2 0L 2 { loaded with Space = FlowSpace.create FlowKind.Euclidean 0.0 layout } layout x |> ignore)
                    "likelihood refuses a fitted prior"
            finally
                for f in [ path; path + ".lock" ] do if File.Exists f then File.Delete f
        }
    
        test "a standardized flow (Euclidean) trains and predicts in z = (x - μ)/s, keeps its fit in the file, and other flows refuse it" {
            let x = targets ()
            let c = { TrainingConfig.cpu FlowKind.Euclidean VelocityKind.Rt with
                        Model = VelocityConfig.defaults VelocityKind.Rt 8 1; Iterations = 3; BatchSize = 4
                        Coupling = Independent; Prior = { Prior.defaults with Centre = FitToTargets true } }
            let r = Training.train c layout x None ignore CancellationToken.None
            Expect.all r.Losses System.Double.IsFinite "finite losses"
            let g = match r.Flow.Prior.Centre with Fitted g -> g | _ -> failtest "fitted"
            Expect.isTrue g.Standardized "standardized"
            // x̂1 = μ + s·ẑ1(t, (x_t - μ)/s): the model's own output mapped back
            use gen = Scope.Rng.create 2L
            let xt = Flow.samplePrior r.Flow gen torch.CPU 3
            let t = torch.full([| 3L |], scalar 0.3)
            let expected = Scope.noGrad (fun () -> r.Flow.Model.On layout t ((xt - g.Mean) / g.Std) * g.Std + g.Mean)
            // the same float32 operations in the same order
            Expect.bitExact (Scope.noGrad (fun () -> Flow.predict r.Flow t xt)) expected "prediction in z, mapped back"
            let path = Path.Combine(Path.GetTempPath(), $"wf-std-{System.Guid.NewGuid():N}.safetensors")
            try
                Flow.save path r.Flow
                let loaded = Flow.load torch.CPU path
                Expect.bitExact (Scope.noGrad (fun () -> Flow.predict loaded t xt)) expected "loaded flow predicts the same"
            finally if File.Exists path then File.Delete path
            for kind in [ FlowKind.Normalized; FlowKind.Geometric ] do
                Expect.throwsT<System.ArgumentException> (fun () -> Training.train { c with Flow = kind } layout x None ignore CancellationToken.None |> ignore) $"{kind} refuses it"
        }
    ]
