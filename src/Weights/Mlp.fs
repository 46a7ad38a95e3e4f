/// A population of B ReLU MLPs of one layout, held as flat weights theta: [B, P]. One bmm per layer, never a loop
/// over networks (ARCHITECTURE decision 2).
[<RequireQualifiedAccess>]
module WeightFlow.Mlp

open TorchSharp

/// Initial weights for B networks: weights ~ N(0, std²), biases 0 (thesis appendix A: std 0.1).
let init (gen: torch.Generator) (device: Device) (layout: Layout) (b: int) (std: float) : Tensor =
    let p = Layout.paramCount layout
    let w = Layout.weightCount layout
    let theta = torch.zeros([| int64 b; int64 p |], dtype = torch.float32)
    use noise = torch.randn([| int64 b; int64 w |], generator = gen, dtype = torch.float32)
    theta.narrow(1L, 0L, int64 w).copy_(noise.mul(scalar std)) |> ignore
    theta.``to``(device)

/// Logits of every network on every input. x: [N, in] (shared inputs) or [B, N, in] (per-network inputs);
/// theta: [B, P]. Returns [B, N, C].
let forward (layout: Layout) (theta: Tensor) (x: Tensor) : Tensor =
    let b = theta.shape[0]
    let mutable h = if x.dim() = 2L then x.unsqueeze(0L).expand(b, -1L, -1L) else x
    let depth = Layout.depth layout
    for i in 0 .. depth - 1 do
        // h [B, N, in] @ Wᵀ [B, in, out] + b [B, 1, out]
        let z = torch.bmm(h, Layout.weightT layout i theta).add_((Layout.bias layout i theta).unsqueeze(1L))
        h <- if i < depth - 1 then torch.nn.functional.relu z else z
    h

/// Labels as [B, N]: shared labels [N] are broadcast over the B networks.
let private perNetwork (b: int64) (y: Tensor) = if y.dim() = 1L then y.unsqueeze(0L).expand(b, -1L) else y

/// Mean cross-entropy of each network: [B]. logits: [B, N, C]; y: [N] (shared) or [B, N] int64 labels.
let crossEntropyOfLogits (logits: Tensor) (y: Tensor) : Tensor =
    let logp = torch.nn.functional.log_softmax(logits, -1L)
    logp.gather(2L, (perNetwork logits.shape[0] y).unsqueeze(2L)).squeeze(2L).mean([| 1L |]).neg()

/// Fraction of correct argmax predictions of each network: [B].
let accuracyOfLogits (logits: Tensor) (y: Tensor) : Tensor =
    logits.argmax(-1L).eq(perNetwork logits.shape[0] y).to_type(torch.float32).mean([| 1L |])

/// Mean cross-entropy of each network on (x, y): [B].
let crossEntropy (layout: Layout) (theta: Tensor) (x: Tensor) (y: Tensor) : Tensor =
    crossEntropyOfLogits (forward layout theta x) y

/// Accuracy of each network on (x, y): [B].
let accuracy (layout: Layout) (theta: Tensor) (x: Tensor) (y: Tensor) : Tensor =
    accuracyOfLogits (forward layout theta x) y
