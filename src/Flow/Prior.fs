/// The prior p0 (thesis §6.3, anchors §5, P11): N(0, s² I) over every parameter, weights and biases, with s = 0.1
/// (the base models' initialisation scale), mapped into the flow's space (canonicalized for the Normalized and
/// Geometric flows: uniform directions for hidden neurons, a near-uniform direction for the last layer). Training
/// draws fresh samples every step rather than the anchor's fixed pool.
namespace WeightFlow

open TorchSharp

type Prior = { Std: float }

[<RequireQualifiedAccess>]
module Prior =
    /// s = 0.1.
    let defaults = { Std = 0.1 }

    /// B prior samples [B, P] for the space's layout (any layout the space was moved to with FlowSpace.forLayout),
    /// drawn from `gen` (CPU) and moved to `device`.
    let sample (prior: Prior) (space: FlowSpace) (gen: torch.Generator) (device: Device) (b: int) : Tensor =
        Check.arg "prior" (prior.Std > 0.0) $"The prior's standard deviation must be > 0; got {prior.Std}."
        Scope.run (fun () ->
            let p = Layout.paramCount space.Layout
            let x = torch.randn([| int64 b; int64 p |], generator = gen, dtype = torch.float32).mul(scalar prior.Std).``to``(device)
            FlowSpace.embed space x)
