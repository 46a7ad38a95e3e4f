module WeightFlow.Tests.TestCoupling

open Expecto
open TorchSharp
open WeightFlow

let private meanCost (space: FlowSpace) (coupling: Coupling) (x0: Tensor) (x1: Tensor) =
    let a, b = Coupling.pair coupling space x0 x1
    (Coupling.cost space a b).mean().ToDouble()

[<Tests>]
let tests =
    testList "Coupling" [
        test "minibatch OT lowers the mean pair cost below independent pairs; symmetry-aware pairing lowers it further" {
            // Squared Euclidean cost: weight matching maximizes ⟨x0, π(x1)⟩ with ‖π(x1)‖ fixed, so aligning never raises
            // a pair's cost, and the exact assignment over aligned costs is at most the one over raw costs.
            let l = Layout.parse "4-8-8-2"
            for kind in [ FlowKind.Euclidean; FlowKind.Normalized ] do
                let space = FlowSpace.create kind 0.0 l
                use gen = Scope.Rng.create 4L
                let x0 = Prior.sample Prior.defaults space gen torch.CPU 16
                // targets: a shared network plus noise, in random neuron orders (a zoo's modes)
                let baseNet = torch.randn([| 1L; int64 (Layout.paramCount l) |], generator = gen) * 0.3
                let perm = Symmetry.randomPermutation gen torch.CPU l 16
                let x1 = FlowSpace.embed space (Symmetry.permute l perm (baseNet + torch.randn([| 16L; int64 (Layout.paramCount l) |], generator = gen) * 0.05))
                let ind = meanCost space Independent x0 x1
                let ot = meanCost space MinibatchOt x0 x1
                let sym = meanCost space SymmetryAware x0 x1
                let symOt = meanCost space SymmetryAwareOt x0 x1
                Expect.isLessThan ot ind $"{kind}: OT < independent"
                Expect.isLessThan sym ind $"{kind}: symmetry-aware < independent"
                Expect.isLessThan symOt ot $"{kind}: symmetry+OT < OT"
                Expect.isLessThanOrEqual symOt (sym + 1e-6) $"{kind}: symmetry+OT <= symmetry-aware"
        }

        test "the B x B cost matrix equals the pair costs, squared geodesic distance on the Geometric flow (float64)" {
            let l = Layout.parse "4-5-3-2"
            for kind in [ FlowKind.Euclidean; FlowKind.Geometric ] do
                let space = FlowSpace.create kind 0.0 l
                use gen = Scope.Rng.create 8L
                let x0 = (Prior.sample Prior.defaults space gen torch.CPU 6).to_type(torch.float64)
                let x1 = (Prior.sample Prior.defaults space gen torch.CPU 6).to_type(torch.float64)
                let m = Coupling.costMatrix space x0 x1
                let a = x0.unsqueeze(1L).expand(-1L, 6L, -1L).reshape(36L, -1L)
                let b = x1.unsqueeze(0L).expand(6L, -1L, -1L).reshape(36L, -1L)
                // arccos of a float64 cosine: absolute error ~1e-8 rad at worst (near 0), squared and summed over ~10 spheres
                Expect.allClose 1e-6 m ((Coupling.cost space a b).view(6L, 6L)) $"{kind}: matrix = pairwise costs"
        }

        test "couplings return permutations of the targets: the same networks, reordered" {
            let l = Layout.parse "3-5-2"
            let space = FlowSpace.create FlowKind.Euclidean 0.0 l
            use gen = Scope.Rng.create 5L
            let x0 = Prior.sample Prior.defaults space gen torch.CPU 6
            let x1 = torch.randn([| 6L; int64 (Layout.paramCount l) |], generator = gen)
            let _, y = Coupling.pair MinibatchOt space x0 x1
            // sorted row sums identify the rows (continuous random data: no ties)
            let sorted (t: Tensor) = (let struct (v, _) = t.sum(1L).sort() in v)
            Expect.bitExact (sorted y) (sorted x1) "OT reorders rows"
            let _, z = Coupling.pair SymmetryAware space x0 x1
            // a neuron permutation keeps the function: same logits on random inputs
            let inputs = torch.randn([| 7L; 3L |], generator = gen)
            Expect.allClose 1e-5 (Mlp.forward l z inputs) (Mlp.forward l x1 inputs) "symmetry-aware keeps each network's function"
        }
    ]
