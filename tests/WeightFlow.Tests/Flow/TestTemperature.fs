module WeightFlow.Tests.Flow.TestTemperature

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private layout = Layout.parse "3-4-2"
let private p = Layout.paramCount layout

/// A toy flow with a known answer: the "model" predicts x̂1 = ½·x_t + b for a fixed b, so the field
/// (x̂1 − x)/(1 − t) is affine in x and every Euler trajectory ends at A·x0 + β: the samples' spread is exactly
/// proportional to the prior draw's, i.e. to τ.
let private toyFlow (prior: Prior) =
    let b = torch.linspace(-1.0, 1.0, int64 p, dtype = torch.float32).unsqueeze(0L)
    let model =
        { Config = VelocityConfig.defaults VelocityKind.Mlp 8 1; Layout = layout; Parameters = []
          On = fun _ -> fun _ x -> x * 0.5 + b }
    { Space = FlowSpace.create Euclidean 1e-4 layout; Prior = prior; Prediction = Endpoint; Model = model }

/// An untrained RT flow of a kind (the prior draw does not depend on training).
let private rtFlow (kind: FlowKind) (prior: Prior) =
    use gen = Scope.Rng.create 1L
    let model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Rt 8 1) layout
    { Space = FlowSpace.create kind 1e-4 layout; Prior = prior; Prediction = Endpoint; Model = model }

/// A fitted prior on `layout` from 20 random "targets" centred away from 0 (so the centre matters).
let private fittedPrior () =
    use gen = Scope.Rng.create 5L
    use targets = torch.randn([| 20L; int64 p |], generator = gen) * 0.2 + 0.5
    { Std = 0.1; Centre = Prior.fit false layout targets }

let private config tau = { SamplingConfig.defaults 8 with Steps = 10; Temperature = tau; Seed = 3L }

/// Mean over coordinates of the per-coordinate standard deviation of the samples.
let private spread (theta: Tensor) = theta.std(0L, true).mean().ToDouble()

[<Tests>]
let tests =
    testList "Flow.Temperature" [
        test "τ = 1 draws bit for bit the untempered prior (isotropic and fitted, raw and canonical)" {
            let fitted = fittedPrior ()
            let g = match fitted.Centre with Fitted g -> g | _ -> failwith "fit"
            for kind in [ Euclidean; Normalized; Geometric ] do
                for prior in [ Prior.defaults; fitted ] do
                    let space = FlowSpace.create kind 1e-4 layout
                    use gen = Scope.Rng.create 7L
                    use tempered = Prior.sampleTempered 1.0 prior space gen torch.CPU 5
                    // the draw rebuilt independently of Prior.fs: the same generator seed, s·ε or σ·ε + μ, embedded
                    use gen2 = Scope.Rng.create 7L
                    use eps = torch.randn([| 5L; int64 p |], generator = gen2, dtype = torch.float32)
                    use raw = match prior.Centre with Fitted _ -> eps * g.Std.unsqueeze(0L) + g.Mean.unsqueeze(0L) | _ -> eps.mul(scalar 0.1)
                    use expected = FlowSpace.embed space raw
                    Expect.bitExact tempered expected $"{kind}, {Prior.centreText prior.Centre}"
            // and a samples file's settings (hence the main job's stage keys) do not change at τ = 1
            Expect.isFalse (Sampling.metadata (config 1.0) |> List.exists (fun (k, _) -> k = "sample.temperature")) "no header entry at τ = 1"
            Expect.contains (Sampling.metadata (config 0.5)) ("sample.temperature", "0.5") "recorded otherwise"
        }

        test "τ = 0 with a Euclidean flow: one network for every sample, whatever the seed" {
            for prior in [ Prior.defaults; fittedPrior () ] do
                // the toy flow works row by row (elementwise ops): the rows are bitwise one network
                let toy = toyFlow prior
                let a = Sampling.sample (config 0.0) ignore torch.CPU toy
                let b = Sampling.sample { config 0.0 with Seed = 11L } ignore torch.CPU toy
                let first = a.Theta.narrow(0L, 0L, 1L).expand(8L, -1L)
                Expect.bitExact a.Theta first $"toy, {Prior.centreText prior.Centre}: all rows one network"
                Expect.bitExact b.Theta first "the same network for another seed"
                Expect.isGreaterThan (spread (Sampling.sample (config 1.0) ignore torch.CPU toy).Theta) 1e-2 "τ = 1 samples differ"
                // an (untrained) RT: batched float32 matmuls may sum a row differently by its position, so the rows
                // agree to 1e-6 rather than bitwise; that is far below the spread of its τ = 1 samples
                let rt = rtFlow Euclidean prior
                let a = Sampling.sample (config 0.0) ignore torch.CPU rt
                let b = Sampling.sample { config 0.0 with Seed = 11L } ignore torch.CPU rt
                let first = a.Theta.narrow(0L, 0L, 1L)
                let rowsApart = max ((a.Theta - first).abs().max().ToDouble()) ((b.Theta - first).abs().max().ToDouble())
                let warm = spread (Sampling.sample (config 1.0) ignore torch.CPU rt).Theta
                Expect.isLessThan rowsApart 1e-6 $"RT, {Prior.centreText prior.Centre}: all rows one network ({rowsApart} apart; τ = 1 spread {warm})"
                Expect.isLessThan rowsApart (warm / 10.0) "far closer than τ = 1 samples"
        }

        test "the samples' spread shrinks monotonically with τ on a toy flow, in proportion to τ" {
            for prior in [ Prior.defaults; fittedPrior () ] do
                let flow = toyFlow prior
                let spreads = [ for tau in [ 0.0; 0.25; 0.5; 1.0; 1.5 ] -> tau, spread (Sampling.sample (config tau) ignore torch.CPU flow).Theta ]
                let s1 = spreads |> List.find (fun (t, _) -> t = 1.0) |> snd
                Expect.isGreaterThan s1 1e-3 "the toy's samples have a spread"
                for (_, a), (_, b) in List.pairwise spreads do Expect.isLessThan a b "spread increases with τ"
                // the toy's samples are A·x0 + β, so spread(τ) = τ·spread(1); float32 rounding of ~10 Euler steps
                // over O(1) values: relative 1e-4 is a hundred times the error seen and far below any misapplied τ
                for tau, s in spreads do
                    Expect.floatClose { absolute = 1e-6; relative = 1e-4 } s (tau * s1) $"{Prior.centreText prior.Centre}: spread at τ = {tau}"
        }

        test "canonical flows: τ scales the biases only with the isotropic prior, the raw draw about μ with a fitted one" {
            let w = Layout.weightCount layout
            let fitted = fittedPrior ()
            let g = match fitted.Centre with Fitted g -> g | _ -> failwith "fit"
            for kind in [ Normalized; Geometric ] do
                let space = FlowSpace.create kind 1e-4 layout
                let draw tau prior = (use gen = Scope.Rng.create 9L in Prior.sampleTempered tau prior space gen torch.CPU 6)
                use one = draw 1.0 Prior.defaults
                use half = draw 0.5 Prior.defaults
                Expect.bitExact (half.narrow(1L, 0L, int64 w)) (one.narrow(1L, 0L, int64 w)) $"{kind}: directions as drawn"
                use expected = one.narrow(1L, int64 w, int64 (p - w)).mul(scalar 0.5)
                Expect.bitExact (half.narrow(1L, int64 w, int64 (p - w))) expected $"{kind}: biases halved"
                use zero = draw 0.0 fitted
                use centre = FlowSpace.embed space (g.Mean.unsqueeze(0L))
                // canonicalize(μ) row by row: the same float32 ops on the same row
                Expect.isLessThan ((zero - centre).abs().max().ToDouble()) 1e-6 $"{kind}, fitted: τ = 0 is canonicalize(μ)"
                Expect.stringContains (Prior.temperatureEffect Prior.defaults space) "biases only" "stated"
        }

        test "bad τ: negative, NaN or infinite is refused with one clear error (sampling config and prior alike)" {
            let messageOf (f: unit -> unit) =
                try f (); failtest "expected an error" with :? System.ArgumentException as e -> e.Message
            let space = FlowSpace.create Euclidean 1e-4 layout
            for tau in [ -0.5; nan; infinity ] do
                Expect.stringContains (messageOf (fun () -> SamplingConfig.validate (config tau))) "--temperature must be a finite number >= 0" $"τ = {tau}"
                let m = messageOf (fun () -> (use gen = Scope.Rng.create 1L in Prior.sampleTempered tau Prior.defaults space gen torch.CPU 2).Dispose())
                Expect.stringContains m "sampling temperature must be a finite number >= 0" $"Prior.sampleTempered τ = {tau}"
        }
    ]
