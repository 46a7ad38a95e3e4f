module WeightFlow.Tests.TestObjective

open Expecto
open TorchSharp
open WeightFlow

let private l = Layout.parse "3-4-2"

[<Tests>]
let tests =
    testList "Objective" [
        test "the geodesic loss is 0 at the target and the squared angle of one rotated neuron, averaged as stated" {
            let space = FlowSpace.create FlowKind.Geometric 0.0 l
            use g = Scope.Rng.create 2L
            let x1 = Prior.sample Prior.defaults space g torch.CPU 1
            Expect.floatClose Accuracy.high ((Objective.geodesicLoss l x1 x1).ToDouble()) 0.0 "zero at the target"
            // rotate hidden neuron 0's incoming weights (a unit vector in R^3) by θ in a plane containing it
            let theta = 0.3
            let w = Layout.weightT l 0 x1      // [1, 3, 4]
            let u = w.select(2L, 0L).squeeze(0L).to_type(torch.float64)
            let v0 = torch.tensor([| 1.0; -2.0; 0.5 |])
            let v = v0 - u * (u * v0).sum()
            let v = v / v.norm()
            let rotated = u * cos theta + v * sin theta
            let y = x1.clone()
            for a in 0 .. 2 do y[0L, int64 (a * 4)] <- rotated[int64 a].to_type(torch.float32)
            // layer 0: one of 4 neurons off by θ -> θ²/4; layer 1 (the last, one sphere): 0; mean over 2 layers -> θ²/8
            Expect.floatClose { absolute = 1e-5; relative = 1e-4 } ((Objective.geodesicLoss l y x1).ToDouble()) (theta * theta / 8.0) "θ²/8"
        }

        test "the geodesic loss keeps a nonzero, finite gradient at tiny angles (no clamped arccos, anchors P7)" {
            let space = FlowSpace.create FlowKind.Geometric 0.0 l
            use g = Scope.Rng.create 3L
            let x1 = Prior.sample Prior.defaults space g torch.CPU 2
            // 1e-4 rad is below geoopt's float32 floor of 0.014 rad, where its gradient is exactly zero
            let noise = torch.randn(x1.shape, generator = g) * 1e-4
            let y = (Manifold.projx space.Manifold (x1 + noise)).detach().requires_grad_(true)
            let loss = (Objective.geodesicLoss l y x1).sum()
            loss.backward()
            let gn = y.grad.norm().ToDouble()
            Expect.isTrue (System.Double.IsFinite gn && gn > 0.0) $"gradient norm {gn} is finite and nonzero"
        }

        test "Euclidean and Normalized losses are the mean squared error" {
            let space = FlowSpace.create FlowKind.Euclidean 0.0 l
            let a = torch.ones([| 2L; int64 (Layout.paramCount l) |])
            let b = torch.zeros([| 2L; int64 (Layout.paramCount l) |])
            Expect.bitExact (Objective.endpointLoss space a b) (torch.ones(2L)) "MSE of 1"
        }

        test "endpoint-via-velocity: x̂1 = x_t + (1 - t) v (its loss the endpoint loss of that x̂1); on the sphere product a point of the manifold" {
            use gen = Scope.Rng.create 3L
            let p = int64 (Layout.paramCount l)
            let xt = torch.randn([| 3L; p |], generator = gen, dtype = torch.float64)
            let v = torch.randn([| 3L; p |], generator = gen, dtype = torch.float64)
            let x1 = torch.randn([| 3L; p |], generator = gen, dtype = torch.float64)
            let t = torch.tensor([| 0.0; 0.5; 0.9 |], dtype = torch.float64)
            let e = FlowSpace.create FlowKind.Euclidean 0.0 l
            let xhat = Objective.endpoint EndpointViaVelocity e t xt v
            // float64 arithmetic of one multiply-add: exact to rounding
            Expect.allClose 1e-12 xhat (xt + v * (t.unsqueeze(1L).neg() + 1.0)) "x_t + (1 - t) v"
            Expect.allClose 1e-12 (Objective.loss EndpointViaVelocity e v x1 x1 xt t) (Objective.endpointLoss e xhat x1) "endpoint loss of x̂1"
            // v = 0 predicts x_t itself: near t = 1 the sample keeps what x_t already holds
            Expect.allClose 1e-12 (Objective.endpoint EndpointViaVelocity e t xt (torch.zeros_like v)) xt "zero velocity: x̂1 = x_t"
            let g = FlowSpace.create FlowKind.Geometric 0.0 l
            let xg = FlowSpace.embed g xt
            let yg = Objective.endpoint EndpointViaVelocity g t xg v
            Expect.allClose 1e-9 (FlowSpace.project g yg) yg "on the Geometric flow's manifold (canonical)"
            Expect.allClose 1e-12 (Objective.endpoint EndpointViaVelocity g (torch.ones(3L, dtype = torch.float64)) xg v) xg "t = 1: x̂1 = x_t"
        }

        test "prediction kinds round-trip through their text" {
            for p in [ Endpoint; Velocity; EndpointViaVelocity ] do
                Expect.equal (Prediction.parse (Prediction.text p)) p (Prediction.text p)
        }
    ]
