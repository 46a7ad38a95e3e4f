// Where a UCI flow's samples go wrong (README "UCI flows against baselines", the Euclidean RT): follows 32 Euler
// trajectories (100 steps, the sampler's conditional rule) and prints, every 10 steps, the test accuracy of the
// prediction x̂1 and the mean weight norm per layer of x̂1 and of x_t beside the zoo's; then the one-shot denoising
// quality at fixed t from real zoo targets (x_t = (1 - t) x0 + t x1, independent pairs: Euclidean flows only).
//   dotnet build src/WeightFlow.Cli -c Release
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/uci-trajectory.fsx FLOW [ZOO]   (ZOO: results/run/zoo-uci-aligned.safetensors)
#load "_load.fsx"
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
let flow = Flow.load torch.CPU args[0]
let zoo = Zoo.load (if args.Length > 1 then args[1] else "results/run/zoo-uci-aligned.safetensors")
let data = Sources.load Task.Uci 0L
let l = zoo.Layout
let accuracy (th: Tensor) = Mlp.accuracy l th data.Test.X data.Test.Y
let layerNorms (th: Tensor) =
    [ for i in 0 .. Layout.depth l - 1 -> (Layout.weightT l i th).flatten(1L).norm(1).mean().ToDouble() ]
    |> List.map (sprintf "%.3f") |> String.concat " "
let inSpace = FlowSpace.embed (Flow.space flow) zoo.Theta
printfn "zoo: accuracy %.4f, layer norms %s" ((accuracy inSpace).mean().ToDouble()) (layerNorms inSpace)
let gen = Scope.Rng.create 0L
let n, k = 32, 100
let _noGrad = torch.no_grad ()
let mutable x = Flow.samplePrior flow gen torch.CPU n
for i in 0 .. k - 1 do
    let t = float i / float k
    let xhat = Flow.predict flow (torch.full([| int64 n |], scalar t)) x
    if i % 10 = 0 || i = k - 1 then
        let a = accuracy xhat
        printfn "t = %.2f: x̂1 accuracy %.4f (min %.4f), layer norms x̂1 %s, x_t %s" t (a.mean().ToDouble()) (a.min().ToDouble()) (layerNorms xhat) (layerNorms x)
    x <- x + (xhat - x) * ((1.0 / float k) / (1.0 - t))
let final = accuracy x
printfn "samples: accuracy %.4f (min %.4f), layer norms %s" (final.mean().ToDouble()) (final.min().ToDouble()) (layerNorms x)
if (Flow.space flow).Kind = FlowKind.Euclidean then
    for t in [ 0.1; 0.3; 0.5; 0.7; 0.9; 0.99 ] do
        let idx = torch.randint(zoo.Theta.shape[0], [| 64L |], generator = gen)
        let x1 = zoo.Theta.index_select(0L, idx)
        let x0 = Flow.samplePrior flow gen torch.CPU 64
        let xhat = Flow.predict flow (torch.full([| 64L |], scalar t)) (x0 * (1.0 - t) + x1 * t)
        let a = accuracy xhat
        printfn "denoising at t = %.2f: x̂1 accuracy %.4f (min %.4f), MSE %.5f" t (a.mean().ToDouble()) (a.min().ToDouble()) ((xhat - x1).square().mean().ToDouble())
