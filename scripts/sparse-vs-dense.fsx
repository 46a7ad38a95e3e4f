#!/usr/bin/env -S dotnet fsi
// Sparse vs dense Relational Transformer on quality: the same parameters trained as a flow-matching velocity model on
// a small network's zoo, attending over the real edges (sparse) or over all node pairs (dense, the anchors).
//   dotnet fsi scripts/sparse-vs-dense.fsx          (after `dotnet build src/WeightFlow.Cli -c Release`)
// Environment: STEPS (default 300), LAYOUT (default 30-8-8-2), WIDTH (32), LAYERS (3), BATCH (32).
//
// Objective: the Euclidean flow-matching loss on aligned weights (thesis §3, linear path): x0 ~ N(0, I), x1 a zoo
// checkpoint, t ~ U(0, 1), x_t = (1 - t) x0 + t x1, loss = ‖v(t, x_t) - (x1 - x0)‖² per parameter. Validation: a fixed
// draw of (x0, t) on the checkpoints of held-out runs. Both variants see the same initial parameters, the same batches
// and the same noise, so the difference is the neighbourhood alone.
#load "_load.fsx"
open System
open System.Diagnostics
open System.Threading
open TorchSharp
open WeightFlow

module RT = RelationalTransformer

let env (name: string) (fallback: string) = match Environment.GetEnvironmentVariable name with null | "" -> fallback | v -> v
let steps = int (env "STEPS" "300")
let layout = Layout.parse (env "LAYOUT" "30-8-8-2")
let width, layers, batch = int (env "WIDTH" "32"), int (env "LAYERS" "3"), int (env "BATCH" "32")
let heldOutRuns = 4

// A zoo of the small layout, aligned to its first checkpoint by weight matching.
let data = Sources.load Task.Uci 0L
let zooConfig = { ZooConfig.uci with Layout = layout; Runs = 24 }
let zoo = Zoo.train zooConfig Task.Uci data ignore CancellationToken.None
let aligned =
    let perms = Rebasin.weightMatching Rebasin.defaultWeightMatching layout (zoo.Theta.narrow(0L, 0L, 1L)) zoo.Theta
    Symmetry.permute layout perms zoo.Theta
let rows (keep: int -> bool) =
    use idx = torch.tensor([| for i, r in Array.indexed zoo.Run do if keep r then int64 i |])
    aligned.index_select(0L, idx)
let train = rows (fun r -> r < zooConfig.Runs - heldOutRuns)
let valid = rows (fun r -> r >= zooConfig.Runs - heldOutRuns)
printfn "zoo %s: %d training checkpoints (%d runs), %d held-out (%d runs); mean test accuracy %.4f"
    (string layout) train.shape[0] (zooConfig.Runs - heldOutRuns) valid.shape[0] heldOutRuns (Array.average (Array.map float zoo.TestAccuracy))

let graph = NeuralGraph.create torch.CPU layout

/// Flow-matching loss of `model` on checkpoints x1 with noise and times drawn from `gen`.
let fmLoss (model: RT.Model) (gen: torch.Generator) (x1: Tensor) =
    use x0 = torch.randn(x1.shape, generator = gen)
    use t = torch.rand([| x1.shape[0] |], generator = gen)
    use tc = t.unsqueeze(1L)
    use xt = torch.lerp(x0, x1, tc)
    use target = x1 - x0
    use v = RT.apply model graph t xt
    use d = v - target
    d.square().mean()

/// Validation loss: the same (x0, t) draw on every call, in chunks of 64 networks.
let validate (model: RT.Model) =
    use _ = torch.no_grad ()
    use gen = Scope.Rng.create 99L
    let n = valid.shape[0]
    let chunks = [ for s in 0L .. 64L .. n - 1L -> s, min 64L (n - s) ]
    chunks |> List.sumBy (fun (s, k) -> (use l = fmLoss model gen (valid.narrow(0L, s, k)) in l.ToDouble() * float k)) |> fun total -> total / float n

let run (neighbourhood: RT.Neighbourhood) =
    use init = Scope.Rng.create 0L
    let model = RT.init init torch.CPU { RT.Config.defaults width layers with Neighbourhood = neighbourhood } layout
    let opt = Optim.create (Optim.adam 1e-3) (RT.parameters model)
    use batches = Scope.Rng.create 1L
    let curve = ResizeArray<int * float>()
    let clock = Stopwatch()
    for step in 1 .. steps do
        use idx = torch.randint(train.shape[0], [| int64 batch |], generator = batches)
        use x1 = train.index_select(0L, idx)
        clock.Start()
        Optim.minimize opt (fun () -> fmLoss model batches x1) |> ignore
        clock.Stop()
        if step % 50 = 0 || step = steps then curve.Add((step, validate model))
    let perStep = clock.Elapsed.TotalSeconds / float steps
    Optim.dispose opt
    for _, p in RT.parameters model do p.Dispose()
    curve, perStep

// The scale of the loss: predicting v = 0 gives E‖x1 - x0‖² per parameter.
let zeroBaseline =
    use gen = Scope.Rng.create 99L
    use x0 = torch.randn(valid.shape, generator = gen)
    use d = valid - x0
    (d.square().mean()).ToDouble()

let sparse, sparseStep = run RT.Sparse
let dense, denseStep = run RT.Dense
printfn "\nvalidation flow-matching loss (per parameter; predicting 0 gives %.4f), %s, d = %d, %d layers, batch %d" zeroBaseline (string layout) width layers batch
printfn "%6s %10s %10s" "step" "sparse" "dense"
for (s, a), (_, b) in Seq.zip sparse dense do printfn "%6d %10.4f %10.4f" s a b
printfn "train step: sparse %.3f s, dense %.3f s (%.1fx)" sparseStep denseStep (denseStep / sparseStep)
