/// The predictive distributions p(y | x, θ_b) of a population of B networks on a split, as one batched forward
/// (chunked over networks to bound the activations' memory), with an optional per-network temperature.
/// Everything in Eval/ that looks at functions (accuracy, cross-entropy, BMA, diversity) starts from these logits.
[<RequireQualifiedAccess>]
module WeightFlow.Predictive

open TorchSharp

/// How many networks one forward holds so that its activations (the inputs broadcast per network included) stay
/// near 64M floats, as `Barrier.crossEntropy` does.
let chunkSize (layout: Layout) (rows: int64) : int =
    let widest = Array.max layout.Widths
    max 1 (int (64_000_000L / (max 1L rows * int64 widest)))

/// Logits of every network on every input, under no_grad: theta [B, P], x [N, d] -> [B, N, C].
let logits (layout: Layout) (x: Tensor) (theta: Tensor) : Tensor =
    if theta.dim() <> 2L || int theta.shape[1] <> Layout.paramCount layout then
        invalidArg "theta" $"Networks of a {layout} MLP must be flat weights [B, {Layout.paramCount layout}]; got %A{theta.shape}. Check that the weights file belongs to this task's layout."
    if x.dim() <> 2L || int x.shape[1] <> layout.Widths[0] then
        invalidArg "x" $"A {layout} MLP takes inputs [N, {layout.Widths[0]}]; got %A{x.shape}. Check that --task matches the networks."
    use _ = torch.no_grad ()
    let b = theta.shape[0]
    let chunk = int64 (chunkSize layout x.shape[0])
    if b <= chunk then Mlp.forward layout theta x
    else
        let parts =
            [| for start in 0L .. chunk .. b - 1L ->
                let len = min chunk (b - start)
                Scope.run (fun () -> Mlp.forward layout (theta.narrow(0L, start, len)) x) |]
        let all = torch.cat(parts, 0L)
        for p in parts do p.Dispose()
        all

/// Logits divided by one temperature per network: logits [B, N, C], temperature [B] -> [B, N, C].
let scale (temperature: Tensor) (logits: Tensor) : Tensor =
    logits / temperature.view(-1L, 1L, 1L)

/// log p(y | x, θ_b): [B, N, C].
let logProbabilities (logits: Tensor) : Tensor = torch.nn.functional.log_softmax(logits, -1L)

/// p(y | x, θ_b): [B, N, C].
let probabilities (logits: Tensor) : Tensor = torch.nn.functional.softmax(logits, -1L)
