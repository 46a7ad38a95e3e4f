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
            let s = Prior.sample { Std = 0.1; Centre = Fitted { Layout = l; Mean = mean; Std = std; Standardized = false; Covariance = None } } space gen torch.CPU 4000
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

        test "the full-covariance prior: the targets' covariance exactly (N <= Rank) or its top principal directions, and samples from it" {
            let p = int64 (Layout.paramCount layout)
            use gen = Scope.Rng.create 11L
            // 400 targets with a rank-3 structure plus small independent noise: strongly correlated coordinates
            let x = torch.randn([| 400L; 3L |], generator = gen).matmul(torch.randn([| 3L; p |], generator = gen)) * 0.2
                    + torch.randn([| 400L; p |], generator = gen) * 0.01 + 0.5
            let x64 = x.to_type(torch.float64)
            let centred = x64 - x64.mean([| 0L |], true)
            let cov = centred.t().matmul(centred) / 400.0               // population covariance
            let scale = cov.abs().max().ToDouble()
            let fitted rank =
                match (Prior.fitFull { Standardized = false; Rank = rank; LinearSkip = false } layout x) with
                | Fitted ({ Covariance = Some c } as g) -> g, c
                | _ -> failtest "a fitted prior with a covariance"
            // N <= Rank: every centred target / √N, so FᵀF is the covariance (float32 factor: ~1e-7 relative per
            // product, 400 terms: allow 1e-5 of the largest entry)
            let g, exact = fitted 500
            Expect.equal exact.Factor.shape [| 400L; p |] "exact factor: all targets"
            Expect.allClose (1e-5 * scale) (exact.Factor.to_type(torch.float64).t().matmul(exact.Factor.to_type(torch.float64))) cov "FᵀF = C"
            Expect.isLessThan (exact.Residual.max().ToDouble()) 1e-3 "nothing left for the residual but its floor"
            Expect.allClose 1e-5 g.Mean (x.mean([| 0L |])) "mean as the diagonal fit"
            Expect.bitExact g.Std (match Prior.fit false layout x with Fitted d -> d.Std | _ -> failtest "fit") "Std: the diagonal fit's (the standardization's scale)"
            // Rank 3 < N: the randomized SVD gives the best rank-3 approximation V3 Λ3 V3ᵀ (eigh in float64), and the
            // residual diagonal makes the marginal variances whole
            let _, low = fitted 3
            Expect.equal low.Factor.shape [| 3L; p |] "three directions"
            let struct (vals, vecs) = torch.linalg.eigh(cov)
            let top = vecs.narrow(1L, p - 3L, 3L)
            let best = top.matmul(torch.diag(vals.narrow(0L, p - 3L, 3L))).matmul(top.t())
            let f64 = low.Factor.to_type(torch.float64)
            Expect.allClose (1e-4 * scale) (f64.t().matmul(f64)) best "FᵀF = the best rank-3 approximation"
            Expect.allClose (1e-4 * scale) (f64.pow(scalar 2.0).sum(0L) + low.Residual.to_type(torch.float64).pow(scalar 2.0)) (cov.diag()) "diag FᵀF + d² = the variances"
            // 20,000 draws: mean and covariance FᵀF + diag d² within 6 standard errors (σ/√n; √2·max C_ii/√n per entry)
            let prior = { Std = 0.1; Centre = Fitted { g with Covariance = Some low } }
            let space = FlowSpace.create FlowKind.Euclidean 0.0 layout
            let draw tau = (use r = Scope.Rng.create 12L in Prior.sampleTempered tau prior space r torch.CPU 20000)
            let s = draw 1.0
            let model = f64.t().matmul(f64) + torch.diag(low.Residual.to_type(torch.float64).pow(scalar 2.0))
            let maxVar = model.diag().max().ToDouble()
            Expect.allClose (6.0 * sqrt (maxVar / 20000.0)) (s.mean([| 0L |])) g.Mean "sample mean"
            let sc = (s.to_type(torch.float64) - s.to_type(torch.float64).mean([| 0L |], true))
            Expect.allClose (6.0 * sqrt 2.0 * maxVar / sqrt 20000.0) (sc.t().matmul(sc) / 19999.0) model "sample covariance = FᵀF + diag d²"
            // τ contracts the very same draw towards μ (float32 rounding of O(1) values)
            Expect.allClose 1e-5 (draw 0.5 - g.Mean) ((s - g.Mean) * 0.5) "τ 0.5"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.fitFull { Standardized = false; Rank = 0; LinearSkip = false } layout x |> ignore) "Rank 0 refused"
        }

        test "the diagonal fit over more parameters than one block is bit for bit the one-batch mean and deviation" {
            let layout = Layout.parse "30-20-2"                                 // 662 parameters: blocks of 512 and 150
            use gen = Scope.Rng.create 14L
            let x = torch.randn([| 25L; int64 (Layout.paramCount layout) |], generator = gen) * 0.4 + 0.1
            let x64 = x.to_type(torch.float64)
            match Prior.fit false layout x with
            | Fitted g ->
                Expect.bitExact g.Mean (x64.mean([| 0L |]).to_type(torch.float32)) "mean"
                Expect.bitExact g.Std (x64.std(0L, false).clamp_min(scalar 1e-6).to_type(torch.float32)) "population deviation, floored"
            | _ -> failtest "Prior.fit returns Fitted"
        }

        test "the full-covariance fit in blocks of parameter columns is bit for bit the one-batch fit" {
            let layout = Layout.parse "6-5-4"
            let p = int64 (Layout.paramCount layout)
            use gen = Scope.Rng.create 13L
            let x = torch.randn([| 40L; 3L |], generator = gen).matmul(torch.randn([| 3L; p |], generator = gen)) * 0.3
                    + torch.randn([| 40L; p |], generator = gen) * 0.05 + 0.2
            // the unchunked reference (fitFull before the blocks): float64 copies of all targets at once
            let oneBatch (rank: int) =
                let x64 = x.to_type(torch.float64)
                let centred = x64 - x64.mean([| 0L |], true)
                let a = centred.to_type(torch.float32).contiguous()
                let factor = (if 40 <= rank then a else Prior.topComponents rank a).div(scalar (sqrt 40.0))
                let explained = factor.to_type(torch.float64).pow(scalar 2.0).sum(0L)
                x64.mean([| 0L |]).to_type(torch.float32), x64.std(0L, false).clamp_min(scalar 1e-6).to_type(torch.float32),
                factor, (centred.pow(scalar 2.0).mean([| 0L |]) - explained).clamp_min(scalar 1e-12).sqrt().to_type(torch.float32)
            for rank in [ 8; 50 ] do
                let mean, std, factor, residual = oneBatch rank
                // 59 parameters: blocks of 2 (the last one-column block joins the one before), 7 (a short last block of
                // 3), 16, 29 (a last column joins), 59 and 512 (one block)
                for columns in [ 2; 7; 16; 29; 59; 512 ] do
                    let fitted =
                        if columns = 512 then Prior.fitFull { Standardized = true; Rank = rank; LinearSkip = false } layout x
                        else Prior.fitFullInBlocks columns { Standardized = true; Rank = rank; LinearSkip = false } layout x
                    match fitted with
                    | Fitted ({ Covariance = Some c } as g) ->
                        let what = $"rank {rank}, blocks of {columns}"
                        Expect.bitExact g.Mean mean $"{what}: mean"
                        Expect.bitExact g.Std std $"{what}: std"
                        Expect.bitExact c.Factor factor $"{what}: factor"
                        Expect.bitExact c.Residual residual $"{what}: residual"
                        Expect.isTrue g.Standardized "standardized kept"
                    | _ -> failtest "a fitted prior with a covariance"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.fitFullInBlocks 1 { Standardized = true; Rank = 8; LinearSkip = false } layout x |> ignore) "blocks of one column refused"
        }

        test "leave-runs-out residual: the out-of-span variance of left-out folds, as its definition computes it densely" {
            // P = 59 > the 30 rows of each fit, so the span of a fit leaves a complement
            let layout = Layout.parse "10-4-3"
            let p = int64 (Layout.paramCount layout)
            use gen = Scope.Rng.create 21L
            // 8 runs x 5 rows: a shared rank-2 plane plus a per-run offset and small noise; fold = run mod 4
            let run = Array.init 40 (fun i -> i / 5)
            let fold = run |> Array.map (fun r -> r % 4)
            let plane = torch.randn([| 40L; 2L |], generator = gen).matmul(torch.randn([| 2L; p |], generator = gen))
            let offsets = torch.randn([| 8L; p |], generator = gen) * 0.3
            let x = plane + offsets.index_select(0L, torch.tensor(run |> Array.map int64)) + torch.randn([| 40L; p |], generator = gen) * 0.01 + 0.5
            // Rank 40 >= the 30 rows of every fit: the factor is all centred rows, so the span is their row space;
            // the reference projects with the float64 pseudo-inverse instead of the factor's QR
            let v = Prior.leaveRunsOutResidual { Standardized = true; Rank = 40; LinearSkip = false } layout x fold
            let x64 = x.to_type(torch.float64)
            let reference =
                [ for f in 0 .. 3 ->
                    let rows keep = x64.index_select(0L, torch.tensor([| for i in 0 .. 39 do if keep fold[i] then int64 i |]))
                    let train, held = rows (fun g -> g <> f), rows (fun g -> g = f)
                    let mu = train.mean([| 0L |], true)
                    let a = train - mu
                    let proj = torch.linalg.pinv(a).matmul(a)
                    let r = held - mu
                    (r - r.matmul(proj)).pow(scalar 2.0).mean([| 0L |]) ]
                |> fun l -> torch.stack(l).mean([| 0L |])
            let scale = x64.var(0L).max().ToDouble()
            Expect.equal v.shape [| p |] "one value per parameter"
            // float32 factor rows (~1e-7 relative) against float64: allow 1e-5 of the largest variance
            Expect.allClose (1e-5 * scale) (v.to_type(torch.float64)) reference "v̄ = the dense definition"
            Expect.isGreaterThan (v.sum().ToDouble()) (0.01 * scale) "the runs' own offsets leave out-of-span variance"
            // rows on a rank-2 plane and Rank 2 (< 30 rows: the randomized SVD): nothing outside the span
            let flat = Prior.leaveRunsOutResidual { Standardized = true; Rank = 2; LinearSkip = false } layout (plane + 0.5) fold
            Expect.isLessThan (flat.max().ToDouble()) (1e-6 * plane.var(0L).max().ToDouble()) "a plane leaves nothing outside its span"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.leaveRunsOutResidual { Standardized = true; Rank = 2; LinearSkip = false } layout x (Array.zeroCreate 40) |> ignore) "one fold refused"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.leaveRunsOutResidual { Standardized = true; Rank = 2; LinearSkip = false } layout x fold[1..] |> ignore) "a fold per row"
        }

        test "a residual floor raises the residual deviation and the marginal Std, and leaves the fit whole at zero" {
            let p = Layout.paramCount layout
            use gen = Scope.Rng.create 22L
            let x = torch.randn([| 50L; 3L |], generator = gen).matmul(torch.randn([| 3L; int64 p |], generator = gen)) + torch.randn([| 50L; int64 p |], generator = gen) * 0.05
            let g = match Prior.fitFull { Standardized = true; Rank = 3; LinearSkip = false } layout x with Fitted g -> g | _ -> failtest "fit"
            let cov = g.Covariance.Value
            let same = Prior.withResidualFloor (torch.zeros([| int64 p |])) g
            Expect.bitExact same.Covariance.Value.Residual cov.Residual "zero floor: the residual as fitted"
            Expect.bitExact same.Mean g.Mean "mean unchanged"
            Expect.bitExact same.Covariance.Value.Factor cov.Factor "factor unchanged"
            // Std from diag FᵀF + d² (float64) against the fit's √diag C: equal up to float32 rounding and the 1e-12 floor
            Expect.allClose 1e-5 same.Std g.Std "zero floor: Std as fitted"
            let floor = torch.linspace(0.0, 2.0, int64 p, dtype = torch.float32)
            let raised = Prior.withResidualFloor floor g
            let d = raised.Covariance.Value.Residual
            Expect.bitExact d (torch.maximum(cov.Residual, floor)) "d' = max(d, floor)"
            let f64 = cov.Factor.to_type(torch.float64)
            Expect.allClose 1e-6 (raised.Std.to_type(torch.float64).pow(scalar 2.0)) (f64.pow(scalar 2.0).sum(0L) + d.to_type(torch.float64).pow(scalar 2.0)) "Std'² = diag FᵀF + d'²"
            Expect.isTrue ((raised.Std.to_type(torch.float64) - g.Std.to_type(torch.float64)).min().ToDouble() > -1e-6) "Std never lowered"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.withResidualFloor (floor - 1.0) g |> ignore) "negative floor refused"
            Expect.throwsT<System.ArgumentException> (fun () -> Prior.withResidualFloor floor { g with Covariance = None } |> ignore) "a diagonal fit refused"
        }

        test "a full-covariance factor tiles row by row to wider layouts" {
            let p = int64 (Layout.paramCount layout)
            let rows = torch.arange(int64 (3 * Layout.paramCount layout), dtype = torch.float32).reshape([| 3L; p |])
            let wide = Layout.parse "3-5-2"
            let t = Prior.tile layout wide rows
            for k in 0L .. 2L do
                Expect.bitExact (t.select(0L, k)) (Prior.tile layout wide (rows.select(0L, k))) $"row {k} as a vector"
        }

        test "training with FitFullToTargets (standardized) keeps the factor in the checkpoint and the flow file; canonical flows refuse standardization" {
            let x = targets ()
            let c = { TrainingConfig.cpu FlowKind.Euclidean VelocityKind.Rt with
                        Model = VelocityConfig.defaults VelocityKind.Rt 8 1; Iterations = 3; BatchSize = 4; CheckpointEvery = 2
                        Coupling = Independent; Prior = { Prior.defaults with Centre = FitFullToTargets { Standardized = true; Rank = 4; LinearSkip = false } } }
            Expect.contains (TrainingConfig.toMetadata c) ("train.prior_rank", "4") "the rank in the run's identity"
            let path = Path.Combine(Path.GetTempPath(), $"wf-fullprior-{System.Guid.NewGuid():N}.safetensors")
            try
                use cts = new CancellationTokenSource()
                let r = Training.train c layout x (Some path) (fun p -> if p.Step = 2 then cts.Cancel()) cts.Token
                let g, cov = match r.Flow.Prior.Centre with Fitted ({ Covariance = Some cov } as g) -> g, cov | _ -> failtest "full-covariance fit"
                Expect.isTrue g.Standardized "standardized"
                Expect.equal cov.Factor.shape [| 4L; int64 (Layout.paramCount layout) |] "rank 4"
                let fromCheckpoint = (Flow.load torch.CPU path).Prior
                let done' = Training.train c layout x (Some path) ignore CancellationToken.None
                Expect.equal done'.Outcome Completed "resumed (the fit redone identically)"
                Flow.save path done'.Flow
                let loaded = Flow.load torch.CPU path
                for prior in [ fromCheckpoint; loaded.Prior ] do
                    match prior.Centre with
                    | Fitted { Covariance = Some c2; Standardized = true } ->
                        Expect.bitExact c2.Factor cov.Factor "factor kept"
                        Expect.bitExact c2.Residual cov.Residual "residual kept"
                    | _ -> failtest "the full-covariance prior read back"
                use g1 = Scope.Rng.create 3L
                use g2 = Scope.Rng.create 3L
                // the same ε and z; z·F is a matrix product, whose last bit may depend on where the factor's copy sits in
                // memory (the kernels' alignment paths), so equal to float32 rounding of O(1) values
                Expect.allClose 1e-6 (Flow.samplePrior loaded g1 torch.CPU 2) (Prior.sample r.Flow.Prior r.Flow.Space g2 torch.CPU 2) "same prior draws"
            finally
                for f in [ path; path + ".lock" ] do if File.Exists f then File.Delete f
            Expect.throwsT<System.ArgumentException> (fun () -> Training.train { c with Flow = FlowKind.Normalized } layout x None ignore CancellationToken.None |> ignore) "Normalized refuses standardized-full"
        }

        test "the linear skip: x̂1 = μ + s·(c(t)·z_t + c_out(t)·F), the identity at t = 1; kept in the flow file; refused without standardization" {
            let x = targets ()
            let fit = { Standardized = true; Rank = 4; LinearSkip = true }
            let c = { TrainingConfig.cpu FlowKind.Euclidean VelocityKind.Rt with
                        Model = VelocityConfig.defaults VelocityKind.Rt 8 1; Iterations = 2; BatchSize = 4
                        Coupling = Independent; Prior = { Prior.defaults with Centre = FitFullToTargets fit } }
            let r = Training.train c layout x None ignore CancellationToken.None
            Expect.all r.Losses System.Double.IsFinite "finite losses"
            let g = match r.Flow.Prior.Centre with Fitted g -> g | _ -> failtest "fitted"
            use gen = Scope.Rng.create 2L
            let xt = Flow.samplePrior r.Flow gen torch.CPU 3
            let zt = (xt - g.Mean) / g.Std
            let at (tv: float) = torch.full([| 3L |], scalar tv)
            // c(0.3) = 0.3/0.58, c_out(0.3) = 0.7/√0.58; the same float32 operations up to their order: 1e-5 of O(1) values
            let expected = Scope.noGrad (fun () -> (zt * (0.3 / 0.58) + r.Flow.Model.On layout (at 0.3) zt * (0.7 / sqrt 0.58)) * g.Std + g.Mean)
            Expect.allClose 1e-5 (Scope.noGrad (fun () -> Flow.predict r.Flow (at 0.3) xt)) expected "the skip at t = 0.3"
            // t = 1: c = 1, c_out = 0, whatever the model says
            Expect.allClose 1e-5 (Scope.noGrad (fun () -> Flow.predict r.Flow (at 1.0) xt)) xt "the identity at t = 1"
            let path = Path.Combine(Path.GetTempPath(), $"wf-skip-{System.Guid.NewGuid():N}.safetensors")
            try
                Flow.save path r.Flow
                let loaded = Flow.load torch.CPU path
                Expect.isSome (Prior.skip loaded.Prior) "the skip read back"
                Expect.allClose 1e-6 (Scope.noGrad (fun () -> Flow.predict loaded (at 0.3) xt)) expected "the loaded flow predicts the same"
            finally if File.Exists path then File.Delete path
            Expect.throwsT<System.ArgumentException>
                (fun () -> Training.train { c with Prior = { c.Prior with Centre = FitFullToTargets { fit with Standardized = false } } } layout x None ignore CancellationToken.None |> ignore)
                "the skip needs standardized coordinates"
            Expect.throwsT<System.ArgumentException> (fun () -> Training.train { c with Prediction = Velocity } layout x None ignore CancellationToken.None |> ignore) "and x1-prediction"
        }
    ]
