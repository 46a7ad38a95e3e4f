module WeightFlow.Tests.Flow.TestPreconditioning

open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private layout = Layout.parse "3-4-3-2"
let private p = Layout.paramCount layout

let private tempFile = TempFiles.safetensors

/// A small RT as F (untrained; only the plumbing is under test).
let private rt () =
    use gen = Scope.Rng.create 1L
    VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Rt 8 1) layout

/// Group RMS values of different sizes per group (weights of layers 0-2, then their biases).
let private dataRms = [| 0.8; 0.5; 0.3; 0.2; 0.4; 0.6 |]

/// x [n, P] with coordinates N(0, d_g²) per group.
let private gaussianWithGroupRms (gen: torch.Generator) (n: int) (rms: float[]) =
    let scale = torch.tensor(Preconditioning.perCoordinate layout rms)
    torch.randn([| int64 n; int64 p |], generator = gen) * scale

let private small (c: TrainingConfig) =
    { c with
        Model = VelocityConfig.defaults VelocityKind.Rt 8 2
        Iterations = 12; BatchSize = 4; CheckpointEvery = 5; Schedule = WarmupCosine 3 }

let private targets () =
    use gen = Scope.Rng.create 9L
    let baseNet = torch.randn([| 1L; int64 p |], generator = gen) * 0.5
    baseNet + torch.randn([| 40L; int64 p |], generator = gen) * 0.05

[<Tests>]
let tests =
    testList "Flow.Preconditioning" [
        test "with unit scales at t = 0 (σ = 0) the preconditioned model is the plain one, bit for bit" {
            // c_in = 1/√(s²) = 1, c_skip = 0, c_out = d·s/√(s²) = 1: the EDM form reduces to F(x_t) exactly
            let m = rt ()
            let ones = Array.create 6 1.0
            use gen = Scope.Rng.create 2L
            let x = torch.randn([| 5L; int64 p |], generator = gen)
            let t = torch.zeros(5L)
            let plain = Scope.noGrad (fun () -> m.On layout t x)
            for pre in [ Unscaled; ScaledInput { Prior = ones; Data = ones; Sigma = 0.0 }; ScaledInputOutput { Prior = ones; Data = ones; Sigma = 0.0 } ] do
                let out = Scope.noGrad (fun () -> Preconditioning.apply pre layout (m.On layout) t x)
                Expect.bitExact out plain $"{Preconditioning.kind pre}"
        }

        test "EDM output: x̂1 = x_t at t = 1 (σ = 0) whatever F is, and d·F at t = 0" {
            let s = { Prior = Array.create 6 0.1; Data = dataRms; Sigma = 0.0 }
            use gen = Scope.Rng.create 3L
            let x = torch.randn([| 4L; int64 p |], generator = gen)
            let f = torch.randn([| 4L; int64 p |], generator = gen)
            let model = fun (_: Tensor) (_: Tensor) -> f
            let at1 = Preconditioning.apply (ScaledInputOutput s) layout model (torch.ones(4L)) x
            // c_skip = d²/d² and c_out = 0 in float32: exact up to one rounding of the division
            Expect.allClose 1e-6 at1 x "x̂1 = x_t at t = 1"
            let at0 = Preconditioning.apply (ScaledInputOutput s) layout model (torch.zeros(4L)) x
            Expect.allClose 1e-6 at0 (f * torch.tensor(Preconditioning.perCoordinate layout dataRms)) "x̂1 = d·F at t = 0"
        }

        test "along the path the model's input has unit RMS in every group, c_skip is the least-squares coefficient and c_out the RMS of its residual" {
            // 20,000 pairs: the per-group RMS estimates (over ≥ 2·10⁴·2 coordinates) have relative standard errors
            // below 0.5%, so a 3% tolerance cannot fail by chance and catches a wrong formula (a missing t² or (1-t)²
            // changes these by far more than 3% at t = 0.3 and 0.7).
            let s = { Prior = Array.create 6 0.1; Data = dataRms; Sigma = 1e-4 }
            use gen = Scope.Rng.create 4L
            let n = 20000
            for tv in [ 0.0; 0.3; 0.7; 0.95 ] do
                let x0 = torch.randn([| int64 n; int64 p |], generator = gen) * 0.1
                let x1 = gaussianWithGroupRms gen n dataRms
                let t = torch.full([| int64 n |], scalar tv)
                let xt = Path.sample (Gaussian 1e-4) gen x0 x1 t
                let cIn, cSkip, cOut = Preconditioning.coefficients s layout t torch.CPU
                let inputRms = Preconditioning.groupRms layout (xt * cIn)
                Expect.all inputRms (fun r -> abs (r - 1.0) < 0.03) $"t = {tv}: input RMS per group %A{inputRms}"
                let residual = x1 - cSkip * xt
                let ratio = Preconditioning.groupRms layout (residual / cOut)
                Expect.all ratio (fun r -> abs (r - 1.0) < 0.03) $"t = {tv}: residual RMS / c_out per group %A{ratio}"
                // least squares: E[(x1 - c x_t) x_t] = 0 at c = c_skip, i.e. the residual is uncorrelated with x_t
                let corr = ((residual * xt).mean().ToDouble()) / (sqrt ((residual.square().mean().ToDouble()) * (xt.square().mean().ToDouble())))
                Expect.isLessThan (abs corr) 0.02 $"t = {tv}: residual uncorrelated with x_t"
        }

        test "the EDM-weighted loss is the network's squared error on its target (x1 - c_skip·x_t)/c_out" {
            let s = { Prior = Array.create 6 0.1; Data = dataRms; Sigma = 1e-4 }
            use gen = Scope.Rng.create 7L
            let x1 = gaussianWithGroupRms gen 6 dataRms
            let xt = torch.randn([| 6L; int64 p |], generator = gen) * 0.1
            let f = torch.randn([| 6L; int64 p |], generator = gen)
            let t = torch.tensor([| 0.0f; 0.2f; 0.4f; 0.6f; 0.8f; 0.99f |])
            let xhat = Preconditioning.apply (ScaledInputOutput s) layout (fun _ _ -> f) t xt
            let _, cSkip, cOut = Preconditioning.coefficients s layout t torch.CPU
            let expected = (f - (x1 - cSkip * xt) / cOut).square().mean([| 1L |])
            // float32: x̂1 - x1 divided by c_out ≥ ~1e-3 at t = 0.99 amplifies rounding (~1e-8 absolute) to ~1e-5
            Expect.allClose 1e-3 (Preconditioning.weightedLoss s layout t xhat x1) expected "per-network loss"
        }

        test "groupRms and perCoordinate follow the layout's flat order" {
            use gen = Scope.Rng.create 5L
            let x = gaussianWithGroupRms gen 20000 dataRms
            let rms = Preconditioning.groupRms layout x
            for g in 0 .. 5 do
                Expect.floatClose { absolute = 0.0; relative = 0.03 } rms[g] dataRms[g] $"group {g}"
            let v = Preconditioning.perCoordinate layout [| 1.0; 2.0; 3.0; 4.0; 5.0; 6.0 |]
            Expect.equal v[Layout.weightOffset layout 1] 2.0f "layer 1 weights"
            Expect.equal v[Layout.biasOffset layout 0] 4.0f "layer 0 biases"
            Expect.equal v[p - 1] 6.0f "last bias"
        }

        test "training fits the scales, the flow file stores them and a loaded flow predicts the same, bit for bit" {
            let x = targets ()
            let c = small { TrainingConfig.cpu Euclidean VelocityKind.Rt with Preconditioning = PreconditioningKind.Edm; Iterations = 3 }
            let r = Training.train c layout x None ignore CancellationToken.None
            match r.Flow.Space.Preconditioning with
            | ScaledInputOutput s ->
                Expect.sequenceEqual s.Prior (Array.create 6 0.1) "the prior's RMS is s"
                Expect.sequenceEqual s.Data (Preconditioning.groupRms layout x) "the targets' RMS per group"
            | other -> failtestf "expected the EDM preconditioning, got %A" (Preconditioning.kind other)
            let path = tempFile "precond"
            try
                Flow.save path r.Flow
                let loaded = Flow.load torch.CPU path
                match loaded.Space.Preconditioning, r.Flow.Space.Preconditioning with
                | ScaledInputOutput a, ScaledInputOutput b ->
                    Expect.sequenceEqual a.Data b.Data "data RMS read back"
                    Expect.sequenceEqual a.Prior b.Prior "prior RMS read back"
                    Expect.equal a.Sigma b.Sigma "σ"
                | _ -> failtest "the loaded flow lost its preconditioning"
                use gen = Scope.Rng.create 6L
                let xt = torch.randn([| 3L; int64 p |], generator = gen) * 0.3
                let t = torch.tensor([| 0.1f; 0.5f; 0.9f |])
                let a = Scope.noGrad (fun () -> Flow.predict loaded t xt)
                let b = Scope.noGrad (fun () -> Flow.predict r.Flow t xt)
                Expect.bitExact a b "same prediction"
                let wider = Layout.parse "3-6-5-2"
                let w = Scope.noGrad (fun () -> Flow.predictOn loaded wider (torch.tensor([| 0.5f |])) (torch.randn([| 1L; int64 (Layout.paramCount wider) |], generator = gen)))
                Expect.equal (T.shape w) [| 1; Layout.paramCount wider |] "per-layer scales carry over to a wider layout"
            finally if File.Exists path then File.Delete path
        }

        test "resuming a preconditioned run reproduces the uninterrupted run's losses exactly" {
            let x = targets ()
            for kind in [ PreconditioningKind.Input; PreconditioningKind.Edm ] do
                let c = small { TrainingConfig.cpu Euclidean VelocityKind.Rt with Preconditioning = kind }
                let whole = Training.train c layout x None ignore CancellationToken.None
                Interrupted.trainResumed "precond-resume" 7 c layout x (fun first rest path ->
                    Expect.equal first.Outcome (Cancelled 7) "cancelled after step 7"
                    Expect.sequenceEqual rest.Losses whole.Losses $"{PreconditioningKind.text kind}: identical loss sequence"
                    let other = { c with Preconditioning = PreconditioningKind.Plain }
                    let e = Expect.throwsC (fun () -> Training.train other layout x (Some path) ignore CancellationToken.None |> ignore) id
                    Expect.stringContains e.Message "train.preconditioning" "a plain run refuses the preconditioned checkpoint")
        }

        test "preconditioning is refused where it has no meaning, with the fix" {
            let x = targets ()
            let geo = small { TrainingConfig.cpu Geometric VelocityKind.Rt with Preconditioning = PreconditioningKind.Input }
            let e = Expect.throwsC (fun () -> Training.train geo layout x None ignore CancellationToken.None |> ignore) id
            Expect.stringContains e.Message "Geometric" "names the flow"
            let vel = small { TrainingConfig.cpu Euclidean VelocityKind.Rt with Preconditioning = PreconditioningKind.Edm; Prediction = Velocity }
            let e2 = Expect.throwsC (fun () -> Training.train vel layout x None ignore CancellationToken.None |> ignore) id
            Expect.stringContains e2.Message "use plain or input" "says what to use"
        }
    ]
