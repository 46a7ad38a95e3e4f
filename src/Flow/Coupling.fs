/// Couplings: which prior sample x0 each target x1 of a minibatch is paired with before the path is built (thesis
/// §3.3; Tong et al. 2024 for minibatch OT; Klein et al. 2023 for the symmetry-aware pairing).
/// - Independent: the pairs as drawn.
/// - MinibatchOt: the exact assignment within the batch minimizing Σ cost(x0_i, x1_π(i)), with the squared
///   Euclidean cost, or the squared geodesic distance for the Geometric flow. Exact (Jonker-Volgenant on the B × B
///   costs), a permutation: no pair is duplicated or dropped (the anchor samples pairs from the plan with
///   replacement, anchors P12).
/// - SymmetryAware: each target's hidden neurons permuted to best match its own prior sample (weight matching x1 -> x0,
///   Rebasin.weightMatchingPairs). An equivariant velocity model cannot reproduce one fixed reference order from
///   noise (evaluation-findings.md); this lets the target follow the noise's order instead. Permutations preserve
///   the network's function and commute with canonicalization, so targets stay in the space.
/// - SymmetryAwareOt: every target aligned to every prior sample of the batch (B² weight matchings, one batched call),
///   then the exact assignment on the aligned costs; each target is used in the order aligned to its partner. The B²
///   screening matchings stop after one sweep (`screenSweeps`) and only the B chosen pairs are matched to
///   convergence: with full matchings for all B² pairs a batch of 32 cost ~0.4 s (README "Flow training"), ~4 RT
///   steps, which kept it out of the CPU budget.
namespace WeightFlow

open TorchSharp

type Coupling =
    | Independent
    | MinibatchOt
    | SymmetryAware
    | SymmetryAwareOt

[<RequireQualifiedAccess>]
module Coupling =
    let text (c: Coupling) =
        match c with Independent -> "independent" | MinibatchOt -> "ot" | SymmetryAware -> "symmetry" | SymmetryAwareOt -> "symmetry+ot"

    let parse (s: string) =
        match s.ToLowerInvariant() with
        | "independent" -> Independent
        | "ot" -> MinibatchOt
        | "symmetry" -> SymmetryAware
        | "symmetry+ot" -> SymmetryAwareOt
        | _ -> Check.dataError $"Unknown coupling '{s}'; expected independent, ot, symmetry or symmetry+ot."

    /// The pair cost [B] of rows x0[b], x1[b]: squared Euclidean, or squared geodesic distance (Geometric flow).
    let cost (space: FlowSpace) (x0: Tensor) (x1: Tensor) : Tensor =
        match space.Kind with
        | Geometric -> (Manifold.dist space.Manifold x0 x1).pow(scalar 2.0)
        | Euclidean | Normalized -> (x0 - x1).pow(scalar 2.0).sum(1L)

    /// Squared geodesic distances on the weight-space product between every row i of x0 and every row j of x1:
    /// [B, B]. Per sphere, the angles of all pairs come from one batched Gram matrix of unit rows (θ = arccos of the
    /// clamped cosine: a cost needs no gradient, and its error near 0 does not change an assignment), so the B × B
    /// costs take a few matrix products instead of B² manifold distances; biases add their squared Euclidean distance.
    let private geodesicCostMatrix (space: FlowSpace) (x0: Tensor) (x1: Tensor) : Tensor =
        let l = space.Layout
        let depth = Layout.depth l
        let radius = space.Canonical |> Option.bind (fun c -> Canonical.lastLayerRadius c l) |> Option.defaultValue 1.0
        let unit (x: Tensor) = x / x.norm(-1, true).clamp_min(scalar 1e-12)
        // rows [groups, B, dim] -> θ² summed over groups, [B, B]
        let angles (a: Tensor) (b: Tensor) =
            let cos = torch.bmm(unit a, (unit b).transpose(1L, 2L)).clamp(scalar -1.0, scalar 1.0)
            cos.arccos().pow(scalar 2.0).sum(0L)
        let spheres =
            [ for layer in 0 .. depth - 1 ->
                let a = Layout.weightT l layer x0
                let b = Layout.weightT l layer x1
                if layer < depth - 1 then angles (a.permute(2L, 0L, 1L)) (b.permute(2L, 0L, 1L))   // [out, B, in]
                else (angles (a.flatten(1L).unsqueeze(0L)) (b.flatten(1L).unsqueeze(0L))) * (radius * radius) ]
        let wc, bc = int64 (Layout.weightCount l), int64 (Layout.biasCount l)
        let biases = torch.cdist(x0.narrow(1L, wc, bc).unsqueeze(0L), x1.narrow(1L, wc, bc).unsqueeze(0L)).squeeze(0L).pow(scalar 2.0)
        List.fold (fun (acc: Tensor) (t: Tensor) -> acc + t) biases spheres

    /// Row i of x0 against every row j of x1: [B, B] (the pair cost of `cost`).
    let costMatrix (space: FlowSpace) (x0: Tensor) (x1: Tensor) : Tensor =
        match space.Kind with
        | Euclidean | Normalized -> torch.cdist(x0.unsqueeze(0L), x1.unsqueeze(0L)).squeeze(0L).pow(scalar 2.0)
        | Geometric -> geodesicCostMatrix space x0 x1

    /// π minimizing Σ_i costs[i, π(i)]: [B] int64.
    let private assign (costs: Tensor) : Tensor =
        use scores = costs.neg().unsqueeze(0L).to_type(torch.float64)
        (Assignment.solveBatch scores).squeeze(0L)

    let private alignWith (config: Rebasin.WeightMatchingConfig) (space: FlowSpace) (references: Tensor) (theta: Tensor) : Tensor =
        let perm = Rebasin.weightMatchingPairs config space.Layout references theta
        Symmetry.permute space.Layout perm theta

    let private align space references theta = alignWith Rebasin.defaultWeightMatching space references theta

    /// Sweeps of the B² screening matchings of SymmetryAwareOt (after the forward-incoming start): one, since the
    /// assignment only needs to rank partners, and the chosen pairs are then matched to convergence.
    let screenSweeps = 1

    /// The coupled pairs (x0, x1'), x1' a reordering (OT) and/or neuron permutation (symmetry) of the targets;
    /// x0 is returned as given. No gradients flow through the coupling.
    let pair (coupling: Coupling) (space: FlowSpace) (x0: Tensor) (x1: Tensor) : Tensor * Tensor =
        use _ = torch.no_grad ()
        match coupling with
        | Independent -> x0.alias(), x1.alias()
        | MinibatchOt ->
            let pi = assign (costMatrix space x0 x1)
            x0.alias(), x1.index_select(0L, pi)
        | SymmetryAware -> x0.alias(), align space x0 x1
        | SymmetryAwareOt ->
            let b = x0.shape[0]
            // row i*B + j: target j aligned to prior sample i
            let refs = x0.unsqueeze(1L).expand(-1L, b, -1L).reshape(b * b, -1L)
            let targets = x1.unsqueeze(0L).expand(b, -1L, -1L).reshape(b * b, -1L)
            let screened = alignWith { Rebasin.defaultWeightMatching with MaxSweeps = screenSweeps } space refs targets
            let costs = (cost space refs screened).view(b, b)
            let pi = assign costs
            x0.alias(), align space x0 (x1.index_select(0L, pi.``to``(x0.device)))
