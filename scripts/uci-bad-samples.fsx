// Where a UCI flow's bad samples go wrong (README "UCI flows against baselines", the Normalized RT's collapsed
// samples): follows 64 Euler trajectories (100 steps, the sampler's conditional rule, the sampler's seed) and prints,
// for each trajectory whose sample ends below 0.93 test accuracy, the test accuracy of the prediction x̂1 every 10
// steps, beside the same for the median good trajectory; and the samples' last-layer rows' cosine (flipped classes?).
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/uci-bad-samples.fsx FLOW ZOO
#load "_load.fsx"
open TorchSharp
open WeightFlow

let args = fsi.CommandLineArgs |> Array.skip 1
let flow = Flow.load torch.CPU args[0]
let zoo = Zoo.load args[1]
let data = Sources.load Task.Uci 0L
let l = zoo.Layout
let accuracy (th: Tensor) = Mlp.accuracy l th data.Test.X data.Test.Y
let gen = Scope.Rng.create 0L
let n, k = 64, 100
let _noGrad = torch.no_grad ()
let mutable x = Flow.samplePrior flow gen torch.CPU n
let rows = ResizeArray<float[]>()
let ts = ResizeArray<float>()
let wc, bc = int64 (Layout.weightCount l), int64 (Layout.biasCount l)
// mean |bias| per layer of a batch (canonical biases are b / s: large when a neuron's incoming norm is small)
let biasText (th: Tensor) =
    let b = th.narrow(1L, wc, bc).abs()
    let mutable o = 0L
    [ for w in l.Widths |> Array.skip 1 ->
        let m = b.narrow(1L, o, int64 w).mean().ToDouble()
        o <- o + int64 w
        sprintf "%.2f" m ] |> String.concat " "
printfn "zoo (canonical): |bias| per layer %s" (biasText (FlowSpace.embed (Flow.space flow) zoo.Theta))
for i in 0 .. k - 1 do
    let t = float i / float k
    let xhat = Flow.predict flow (torch.full([| int64 n |], scalar t)) x
    if i % 10 = 0 || i = k - 1 then
        ts.Add t
        rows.Add((accuracy xhat).data<float32>().ToArray() |> Array.map float)
        let ax = accuracy x
        printfn "t = %.2f: x_t acc %.3f (min %.3f), |bias| x̂1 %s, x_t %s" t (ax.mean().ToDouble()) (ax.min().ToDouble()) (biasText xhat) (biasText x)
    x <- x + (xhat - x) * ((1.0 / float k) / (1.0 - t))
let final = (accuracy x).data<float32>().ToArray() |> Array.map float
printfn "samples: mean %.4f min %.4f, %d below 0.93" (Array.average final) (Array.min final) (final |> Array.filter (fun a -> a < 0.93) |> Array.length)
printfn "t:      %s" (ts |> Seq.map (sprintf "%5.2f") |> String.concat " ")
let bad = [ for j in 0 .. n - 1 do if final[j] < 0.93 then yield j ]
let good = [ for j in 0 .. n - 1 do if final[j] >= 0.93 then yield j ]
for j in bad @ (List.truncate 3 good) do
    printfn "#%2d %s x̂1 acc: %s -> %.3f" j (if final[j] < 0.93 then "bad " else "good") (rows |> Seq.map (fun r -> sprintf "%5.3f" r[j]) |> String.concat " ") final[j]
// last layer [C, h]: the two class rows of a binary classifier; flipped samples have them swapped
let wl = Layout.weightT l (Layout.depth l - 1) x // [B, h, C]
let zm = (Layout.weightT l (Layout.depth l - 1) (FlowSpace.embed (Flow.space flow) zoo.Theta)).mean([| 0L |])
for j in bad @ (List.truncate 3 good) do
    let w = wl[j].flatten()
    let c = (w.dot(zm.flatten()) / (w.norm() * zm.flatten().norm())).ToDouble()
    printfn "#%2d cos(last layer, zoo mean's) %.3f" j c
