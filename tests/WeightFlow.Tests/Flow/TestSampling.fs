module WeightFlow.Tests.Flow.TestSampling

open System.IO
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

let private layout = Layout.parse "3-4-2"

/// An untrained flow with a small RT (the sampler's plumbing does not depend on training).
let private flowOf (kind: FlowKind) =
    use gen = Scope.Rng.create 1L
    let model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Rt 8 1) layout
    { Space = FlowSpace.create kind 1e-4 layout; Prior = Prior.defaults; Prediction = Endpoint; Model = model }

let private tempFile = TempFiles.safetensors

let private config =
    { SamplingConfig.defaults 6 with
        Steps = 5; Method = Method.Heun; BatchSize = 4
        Noise = Some { Transform.Noise.Eps = 0.05; Transform.Noise.Start = 0.5; Transform.Noise.Stop = 1.0 } }

[<Tests>]
let tests =
    testList "Flow.Sampling" [
        test "Geometric flow: samples lie on the weight-space manifold, are finite, and a seed fixes them" {
            let flow = flowOf Geometric
            let a = Sampling.sample config ignore torch.CPU flow
            let b = Sampling.sample config ignore torch.CPU flow
            let c = Sampling.sample { config with Seed = 1L } ignore torch.CPU flow
            Expect.equal (T.shape a.Theta) [| 6; Layout.paramCount layout |] "6 networks (two batches)"
            Expect.isEmpty a.NonFinite "all finite"
            // float32 sphere rows after expmap: |‖x‖ - 1| of a few ulps per step.
            Expect.isLessThan ((Manifold.violation flow.Space.Manifold a.Theta).max().ToDouble()) 1e-5 "on the manifold"
            Expect.isTrue (T.equal a.Theta b.Theta) "same seed, same samples"
            Expect.isFalse (T.equal a.Theta c.Theta) "another seed, other samples"
        }

        test "a wider layout of the same depth is sampled by the same flow (thesis 7.3.4)" {
            let wide = Layout.parse "3-7-2"
            let r = Sampling.sample { config with Layout = Some wide } ignore torch.CPU (flowOf Geometric)
            Expect.equal (T.shape r.Theta) [| 6; Layout.paramCount wide |] "wider networks"
            Expect.equal r.Layout wide "layout recorded"
        }

        test "guidance on a task and the anchor rule run through the same sampler" {
            use gen = Scope.Rng.create 3L
            let x = torch.randn([| 20L; 3L |], generator = gen)
            let data = { Name = "toy"; Features = 3; Classes = 2; Train = { X = x; Y = x.sum(1L).gt(scalar 0.0).to_type(torch.int64) }
                         Valid = { X = x; Y = x.sum(1L).gt(scalar 0.0).to_type(torch.int64) }
                         Test = { X = x; Y = x.sum(1L).gt(scalar 0.0).to_type(torch.int64) } }
            let guided = { config with Guidance = Some { Lambda = 0.5; At = GuideAt.Prediction; Data = data; Batch = 8 }; Rule = VelocityRule.AnchorDisplacement }
            let r = Sampling.sample guided ignore torch.CPU (flowOf Euclidean)
            Expect.isEmpty r.NonFinite "finite"
            Expect.equal (T.shape r.Theta) [| 6; Layout.paramCount layout |] "shape"
        }

        test "the prior-only rule (guidance control): without guidance the samples are the prior draws, with guidance they descend the task loss" {
            let flow = flowOf Euclidean
            use gen = Scope.Rng.create 3L
            let x = torch.randn([| 20L; 3L |], generator = gen)
            let y = x.sum(1L).gt(scalar 0.0).to_type(torch.int64)
            let split = { X = x; Y = y }
            let data = { Name = "toy"; Features = 3; Classes = 2; Train = split; Valid = split; Test = split }
            let plain = { SamplingConfig.defaults 6 with Steps = 5; Rule = VelocityRule.PriorOnly; BatchSize = 8 }
            let r = Sampling.sample plain ignore torch.CPU flow
            use priorGen = Scope.Rng.create plain.Seed
            use x0 = Prior.sampleTempered 1.0 flow.Prior (Flow.spaceOn flow layout) priorGen torch.CPU 6
            Expect.bitExact r.Theta x0 "velocity 0: the prior draw"
            // full-batch guidance (20 of 20 rows): gradient descent with step λ·dt = 0.1 on a smooth loss must lower it
            let guided = Sampling.sample { plain with Guidance = Some { Lambda = 0.5; At = GuideAt.State; Data = data; Batch = 20 } } ignore torch.CPU flow
            let loss (theta: Tensor) = (Mlp.crossEntropy layout theta x y).mean().ToDouble()
            Expect.isLessThan (loss guided.Theta) (loss x0) "guidance alone lowers the loss"
            // the same descent without a flow, from the same draws and minibatch stream (Table 7.3's Gaussian control)
            let g = { Lambda = 0.5; At = GuideAt.State; Data = data; Batch = 20 }
            use alone = Sampling.guidanceOnly plain.Steps g plain.Seed layout torch.CPU x0
            Expect.bitExact alone guided.Theta "Sampling.guidanceOnly = the prior-only rule from the same x0"
        }

        test "samples files round-trip with their layout and settings" {
            let flow = flowOf Normalized
            let r = Sampling.sample config ignore torch.CPU flow
            let path = tempFile "samples"
            try
                Sampling.save path (Sampling.metadata config) flow r
                let l, theta, get = Sampling.load path
                Expect.equal l layout "layout"
                Expect.bitExact theta r.Theta "theta"
                Expect.equal (get "space") "canonical" "space"
                Expect.equal (get "sample.solver") "heun" "settings"
            finally File.Delete path
        }

        test "log-likelihood: finite for a Euclidean flow, refused with a reason for a Geometric one" {
            let flow = flowOf Euclidean
            use gen = Scope.Rng.create 4L
            use theta = torch.randn([| 2L; int64 (Layout.paramCount layout) |], generator = gen) * 0.1
            let lp = Sampling.logLikelihood (Divergence.Hutchinson(2, Probe.Rademacher)) 3 0L 2 flow layout theta
            Expect.equal lp.Length 2 "one value per network"
            Expect.all lp System.Double.IsFinite "finite"
            Expect.throwsT<System.ArgumentException>
                (fun () -> Sampling.logLikelihood Divergence.Exact 3 0L 2 (flowOf Geometric) layout theta |> ignore) "geometric"
        }
    ]
    |> testSequenced
