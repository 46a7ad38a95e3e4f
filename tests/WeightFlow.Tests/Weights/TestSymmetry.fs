module WeightFlow.Tests.TestSymmetry

open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// Networks per generated case: enough that a batching mistake (one network's group element used for another) shows.
let private batch = 3

/// B random float64 networks (weights and biases ~ N(0, 1)) and inputs, from one seed.
let private sample (widths: int list) (seed: int) =
    let layout = Layout.create widths
    let g = Scope.Rng.create (int64 seed)
    let theta = torch.randn([| int64 batch; int64 (Layout.paramCount layout) |], generator = g, dtype = torch.float64)
    let x = torch.randn([| 5L; int64 widths[0] |], generator = g, dtype = torch.float64)
    layout, g, theta, x

let private scalingLike (g: torch.Generator) (layout: Layout) =
    let s = Symmetry.randomScaling g torch.CPU layout batch 2.0
    { Symmetry.Scales = s.Scales |> List.map (fun t -> t.to_type(torch.float64)) }

/// Outputs of float64 networks whose weights are ~N(0,1) with widths <= 6 are O(10); a permutation only reorders
/// sums and a scaling multiplies by e^±2 and back, so agreement is at ~1e-14 relative; 1e-9 leaves margin.
let private outputTol = Tolerance.float64Law

[<Tests>]
let tests =
    testList "Symmetry" [
        testProp "a permuted network computes the same outputs" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, x = sample widths seed
            let p = Symmetry.randomPermutation g torch.CPU layout batch
            use moved = Symmetry.permute layout p theta
            Expect.allClose outputTol (Mlp.forward layout moved x) (Mlp.forward layout theta x) "outputs")

        testProp "a rescaled network computes the same outputs" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, x = sample widths seed
            use moved = Symmetry.rescale layout (scalingLike g layout) theta
            Expect.allClose outputTol (Mlp.forward layout moved x) (Mlp.forward layout theta x) "outputs")

        testProp "permutations compose and invert (bit-exact: they only move entries)" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, _ = sample widths seed
            let p = Symmetry.randomPermutation g torch.CPU layout batch
            let q = Symmetry.randomPermutation g torch.CPU layout batch
            Expect.bitExact (Symmetry.permute layout (Symmetry.composePermutations q p) theta)
                            (Symmetry.permute layout q (Symmetry.permute layout p theta)) "compose"
            Expect.bitExact (Symmetry.permute layout (Symmetry.invertPermutation p) (Symmetry.permute layout p theta)) theta "inverse")

        testProp "scalings compose and invert" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, _ = sample widths seed
            let s = scalingLike g layout
            let t = scalingLike g layout
            // Two or three float64 multiplications per entry: relative error a few ulps of |θ| ~ 1e1 after e^±4 factors.
            Expect.allClose 1e-12 (Symmetry.rescale layout (Symmetry.composeScalings s t) theta)
                                  (Symmetry.rescale layout s (Symmetry.rescale layout t theta)) "compose"
            Expect.allClose 1e-12 (Symmetry.rescale layout (Symmetry.invertScaling s) (Symmetry.rescale layout s theta)) theta "inverse")

        testProp "permutation moves whole neurons: P W Pᵀ on each layer" (fun (SmallLayout widths) (seed: int) ->
            // Oracle: dense permutation matrices on the unflattened layers, one network at a time.
            let layout, g, theta, _ = sample widths seed
            let p = Symmetry.randomPermutation g torch.CPU layout batch
            let moved = Symmetry.permute layout p theta
            let depth = Layout.depth layout
            for i in 0 .. batch - 1 do
                let mat (j: int) =
                    let pi = p.Perms[j][int64 i]
                    torch.eye(int64 widths[j + 1], dtype = torch.float64).index_select(0L, pi)
                let before = Layout.unflatten layout (theta.narrow(0L, int64 i, 1L))
                let after = Layout.unflatten layout (moved.narrow(0L, int64 i, 1L))
                for l in 0 .. depth - 1 do
                    let w = before[l].W[0L]
                    let w = if l < depth - 1 then torch.mm(mat l, w) else w
                    let w = if l > 0 then torch.mm(w, (mat (l - 1)).t()) else w
                    let b = if l < depth - 1 then torch.mv(mat l, before[l].B[0L]) else before[l].B[0L]
                    Expect.allClose Tolerance.exact after[l].W[0L] w $"network {i} layer {l} W"
                    Expect.allClose Tolerance.exact after[l].B[0L] b $"network {i} layer {l} b")

        testProp "canonicalize: unit hidden neurons and last layer of norm r" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, theta, _ = sample widths seed
            for config, r in [ Canonical.defaultConfig, 1.0
                               { Canonical.LastLayerNorm = Canonical.SqrtClasses }, sqrt (float (List.last widths))
                               { Canonical.LastLayerNorm = Canonical.Fixed 3.5 }, 3.5 ] do
                let c = Canonical.canonicalize config layout theta
                let depth = Layout.depth layout
                for l in 0 .. depth - 2 do
                    let norms = (Layout.weightT layout l c).norm(1, false, 2.0f)
                    // float64 norms of <= 6 terms: ~1e-15.
                    Expect.allClose 1e-12 norms (torch.ones_like norms) $"hidden layer {l} incoming norms"
                let last = (Layout.weightT layout (depth - 1) c).flatten(1L).norm(1, false, 2.0f)
                Expect.allClose 1e-12 last (torch.full_like(last, scalar r)) "last layer norm")

        testProp "canonicalize is idempotent" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, theta, _ = sample widths seed
            let c = Canonical.canonicalize Canonical.defaultConfig layout theta
            // The second pass divides by norms equal to 1 up to float64 rounding (~1e-16 each), so each value moves by a
            // few roundings of its own size: relative, since the scale pushed into later layers' biases can reach ~1e4
            // (an absolute 1e-12 failed at 9065.68 by one ulp, 1.8e-12)
            Expect.allCloseRelative 1e-12 (Canonical.canonicalize Canonical.defaultConfig layout c) c "canonicalize twice")

        testProp "canonicalize is constant on each scaling orbit" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, _ = sample widths seed
            let s = scalingLike g layout
            // Scales e^±2 cancel up to a few float64 roundings per entry, relative to the entry: a canonical vector's
            // biases grow where an incoming norm is small (9065.68 seen with a width-1 layer), so not O(1).
            Expect.allCloseRelative 1e-12 (Canonical.canonicalize Canonical.defaultConfig layout (Symmetry.rescale layout s theta))
                                          (Canonical.canonicalize Canonical.defaultConfig layout theta) "canonical form of a rescaled network")

        testProp "canonicalize commutes with permutations" (fun (SmallLayout widths) (seed: int) ->
            let layout, g, theta, _ = sample widths seed
            let p = Symmetry.randomPermutation g torch.CPU layout batch
            // Same arithmetic on moved entries, except the last layer's norm sums in another order: ~1e-16 relative.
            Expect.allCloseRelative 1e-12 (Canonical.canonicalize Canonical.defaultConfig layout (Symmetry.permute layout p theta))
                                          (Symmetry.permute layout p (Canonical.canonicalize Canonical.defaultConfig layout theta)) "canonicalize ∘ permute")

        testProp "canonicalize preserves every prediction's argmax; logits scale by one factor" (fun (SmallLayout widths) (seed: int) ->
            let layout, _, theta, x = sample widths seed
            let before = Mlp.forward layout theta x
            let after = Mlp.forward layout (Canonical.canonicalize Canonical.defaultConfig layout theta) x
            Expect.isTrue (T.equal (after.argmax(-1L)) (before.argmax(-1L))) "argmax"
            // (C.3): after = before / ‖W'_L‖_F per network, W'_L the last layer after the (function-preserving) hidden
            // rescaling (C.1), i.e. the last layer of the canonical form with the last layer left alone.
            let hiddenOnly = Canonical.canonicalize { Canonical.LastLayerNorm = Canonical.Unscaled } layout theta
            let wl = (Layout.weightT layout (Layout.depth layout - 1) hiddenOnly).flatten(1L).norm(1, false, 2.0f)
            // Logits O(10) through float64 products of <= 6 terms: ~1e-14.
            Expect.allClose 1e-9 after (before / wl.view(-1L, 1L, 1L)) "logits / ‖W'_L‖")

        test "a neuron with zero incoming weights is left unscaled, without NaN" {
            let layout = Layout.parse "2-2-1"
            // W0ᵀ (in, out) row-major: entry (a, k) at a*2 + k. Neuron 0's incoming weights (0, 0); neuron 1's (3, 4).
            use theta = torch.tensor([| 0.0; 3.0; 0.0; 4.0   // W0ᵀ
                                        1.0; 2.0             // W1ᵀ
                                        0.5; 0.25; 0.0 |],   // b0, b1
                                     dtype = torch.float64).unsqueeze(0L)
            use c = Canonical.canonicalize { Canonical.LastLayerNorm = Canonical.Unscaled } layout theta
            // Neuron 0: s = 1 (no direction), unchanged. Neuron 1: s = 5, so (3, 4)/5, b 0.25/5, outgoing 2·5.
            use expected = torch.tensor([| 0.0; 0.6; 0.0; 0.8; 1.0; 10.0; 0.5; 0.05; 0.0 |], dtype = torch.float64).unsqueeze(0L)
            // A few float64 divisions of exact decimals: ~1e-16.
            Expect.allClose 1e-15 c expected "hand-computed canonical form"
            use z = torch.tensor([| 0.0; 0.0; 0.0; 0.0; 1.0; 2.0; 0.5; 0.25; 0.0 |], dtype = torch.float64).unsqueeze(0L)
            use cz = Canonical.canonicalize Canonical.defaultConfig layout z
            Expect.isTrue (torch.isfinite(cz).all().ToBoolean()) "finite"
            Expect.allClose Tolerance.exact (cz.narrow(1L, 0L, 4L)) (z.narrow(1L, 0L, 4L)) "zero neurons' weights untouched"
            Expect.allClose Tolerance.exact (cz.narrow(1L, 6L, 2L)) (z.narrow(1L, 6L, 2L)) "zero neurons' biases untouched"
        }
    ]
