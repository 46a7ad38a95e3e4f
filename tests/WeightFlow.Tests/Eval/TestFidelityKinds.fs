module WeightFlow.Tests.Eval.TestFidelityKinds

open Expecto
open TorchSharp
open WeightFlow

/// Tolerance for two float64 computations of one quantity by different summation orders: sums of ~10⁴ terms of
/// order 1 agree to ~1e-13 relative; 1e-10 leaves room and still catches any real difference (the smallest
/// effect below is ~1e-3).
let private exact = { absolute = 1e-12; relative = 1e-10 }

let private layout = Layout.create [ 4; 3; 2 ]

/// B random networks of `layout` (P = 4·3 + 3·2 + 3 + 2 = 23), float64.
let private nets (g: torch.Generator) (b: int) (scale: float) =
    torch.randn([| int64 b; int64 (Layout.paramCount layout) |], generator = g, dtype = torch.float64) * scale

let private fitOn kind (training: Tensor) (pooled: Tensor) (probe: Tensor) =
    Fidelity.fit kind layout training probe 0L 64 pooled

[<Tests>]
let tests =
    testList "Fidelity kinds" [
        test "rbf is (F.1) at the median bandwidth of the pooled set" {
            use g = Scope.Rng.create 11L
            let t, j, x = nets g 40 1.0, nets g 30 1.0, nets g 20 1.3
            let pooled = torch.cat([| t; j |], 0L)
            let m = fitOn Fidelity.Kind.Rbf t pooled (torch.zeros(1L, 4L))
            Expect.floatClose exact (Fidelity.distance m x j) (Fidelity.mmd2 (Fidelity.medianBandwidth pooled) x j) "same estimator"
        }

        test "the multi-scale kernel's MMD² is the sum of the five single-kernel MMD²s" {
            use g = Scope.Rng.create 12L
            let t, j, x = nets g 40 1.0, nets g 30 1.0, nets g 20 0.7
            let pooled = torch.cat([| t; j |], 0L)
            let h = Fidelity.medianBandwidth pooled
            let m = fitOn Fidelity.Kind.MultiScaleRbf t pooled (torch.zeros(1L, 4L))
            let sum = Fidelity.multiScales |> List.sumBy (fun c -> Fidelity.mmd2 (c * h) x j)
            Expect.floatClose exact (Fidelity.distance m x j) sum "linearity of MMD² in the kernel"
        }

        test "every kind: shuffling a set's rows changes nothing; a set from the judge's distribution stays near 0, a scaled one moves" {
            use g = Scope.Rng.create 13L
            let t, j = nets g 200 1.0, nets g 200 1.0
            let same, scaled = nets g 200 1.0, nets g 200 2.0
            let probe = torch.randn([| 16L; 4L |], generator = g, dtype = torch.float64)
            let pooled = torch.cat([| t; j |], 0L)
            for kind in Fidelity.Kind.all do
                let m = fitOn kind t pooled probe
                let d0 = Fidelity.distance m same j
                let shuffled = same.index_select(0L, torch.randperm(200L, generator = g))
                Expect.floatClose exact (Fidelity.distance m shuffled j) d0 $"{Fidelity.Kind.name kind}: row order"
                // the reference level is the floor of this synthetic zoo (training vs judge, both from the judge's
                // distribution): a set from that distribution must sit near it, a set with twice the spread far above
                // it. "Near" = within a quarter of the scaled set's distance above the floor (null fluctuations of
                // 200 vs 200 networks are ~1/20 of that gap for every kind; a kind blind to the spread fails).
                let floor = Fidelity.distance m t j
                let moved = Fidelity.distance m scaled j
                Expect.isGreaterThan (moved - floor) 0.0 $"{Fidelity.Kind.name kind}: spread x2 above the floor ({moved} vs {floor})"
                Expect.isLessThan (abs (d0 - floor)) (0.25 * (moved - floor)) $"{Fidelity.Kind.name kind}: same distribution at the floor ({d0} vs {floor}, scaled {moved})"
        }

        test "energy distance: the 1-D known answer" {
            // X = {0, 1}, Y = {3, 4}: 2·mean|x − y| = 2·(3 + 4 + 2 + 3)/4 = 6; within-set means (i ≠ j) 1 and 1 -> 4
            let x = torch.tensor([| 0.0; 1.0 |], dtype = torch.float64).view(2L, 1L)
            let y = torch.tensor([| 3.0; 4.0 |], dtype = torch.float64).view(2L, 1L)
            let m = Fidelity.fit Fidelity.Kind.Energy (Layout.create [ 1; 1 ]) x x 0L 1 (torch.cat([| x; y |], 0L))
            Expect.floatClose exact (Fidelity.distance m x y) 4.0 "energy distance"
        }

        test "standardized rbf is invariant to rescaling each coordinate; rbf is not" {
            use g = Scope.Rng.create 14L
            let t, j, x = nets g 60 1.0, nets g 40 1.0, nets g 30 1.5
            let s = torch.rand([| 1L; int64 (Layout.paramCount layout) |], generator = g, dtype = torch.float64) * 10.0 + 0.1
            let d kind (k: float) =
                let scale (z: Tensor) = if k = 1.0 then z else z * s
                let m = fitOn kind (scale t) (torch.cat([| scale t; scale j |], 0L)) (torch.zeros(1L, 4L))
                Fidelity.distance m (scale x) (scale j)
            Expect.floatClose { absolute = 1e-9; relative = 1e-8 } (d Fidelity.Kind.StandardizedRbf 2.0) (d Fidelity.Kind.StandardizedRbf 1.0) "standardized"
            Expect.isGreaterThan (abs (d Fidelity.Kind.Rbf 2.0 - d Fidelity.Kind.Rbf 1.0)) 1e-4 "raw rbf sees the rescaling"
        }

        test "per-layer rbf is the mean over layers of (F.1) on each layer's weights and bias" {
            use g = Scope.Rng.create 15L
            let t, j, x = nets g 40 1.0, nets g 30 1.0, nets g 20 1.4
            let pooled = torch.cat([| t; j |], 0L)
            let m = fitOn Fidelity.Kind.PerLayerRbf t pooled (torch.zeros(1L, 4L))
            let block i (z: Tensor) = torch.cat([| (Layout.weightT layout i z).reshape(z.shape[0], -1L); Layout.bias layout i z |], 1L)
            let manual =
                [ for i in 0 .. 1 -> Fidelity.mmd2 (Fidelity.medianBandwidth (block i pooled)) (block i x) (block i j) ] |> List.average
            Expect.floatClose exact (Fidelity.distance m x j) manual "mean of per-layer MMD²"
        }

        test "predictive fidelity ignores hidden-neuron order; weight-space rbf does not" {
            use g = Scope.Rng.create 16L
            let t, j, x = nets g 40 1.0, nets g 30 1.0, nets g 20 1.0
            let probe = torch.randn([| 32L; 4L |], generator = g, dtype = torch.float64)
            let pooled = torch.cat([| t; j |], 0L)
            let px = Symmetry.permute layout (Symmetry.randomPermutation g x.device layout 20) x
            let pr = fitOn Fidelity.Kind.Predictive t pooled probe
            Expect.floatClose { absolute = 1e-10; relative = 1e-8 } (Fidelity.distance pr px j) (Fidelity.distance pr x j) "predictive"
            let rbf = fitOn Fidelity.Kind.Rbf t pooled probe
            Expect.isGreaterThan (abs (Fidelity.distance rbf px j - Fidelity.distance rbf x j)) 1e-6 "rbf on unaligned weights"
        }

        test "kind names round-trip; an unknown name is one clear error" {
            for k in Fidelity.Kind.all do Expect.equal (Fidelity.Kind.parse (Fidelity.Kind.name k)) k "round trip"
            Expect.throwsC (fun () -> Fidelity.Kind.parse "mmd" |> ignore) (fun e -> Expect.stringContains e.Message "rbf-multiscale" "names the choices")
        }
    ]
