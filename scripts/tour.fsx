#!/usr/bin/env -S dotnet fsi
// The README's F# tour, runnable: dotnet fsi scripts/tour.fsx (after `dotnet build src/WeightFlow.Cli -c Release`).
#load "_load.fsx"
open System.Threading
open TorchSharp
open WeightFlow

// Data: embedded UCI breast cancer, seeded 80/10/10 split, standardized with training statistics only.
let data = Sources.load Task.Uci 0L                   // or Task.Mnist, Task.FashionMnist, Task.Csv "my.csv"

// A zoo: 100 Adam runs of a 30-16-16-2 MLP trained as ONE batched model (thesis appendix A settings).
let zoo = Zoo.train ZooConfig.uci Task.Uci data ignore CancellationToken.None
Zoo.save "results/tour-zoo.safetensors" zoo           // safetensors: JSON header + raw float32, atomic
let theta = zoo.Theta                                 // [N, P]: one row per checkpoint, flat order in Layout.fs

// Networks are data: a batch of B networks runs as one model.
let acc = Mlp.accuracy zoo.Layout theta data.Test.X data.Test.Y          // [N]

// Symmetries and geometry.
let reference = theta.narrow(0L, 0L, 1L)
let perms = Rebasin.weightMatching Rebasin.defaultWeightMatching zoo.Layout reference theta
let aligned = Symmetry.permute zoo.Layout perms theta                      // same functions, one basin
let canon = Canonical.canonicalize Canonical.defaultConfig zoo.Layout aligned
let M = WeightSpace.ofLayout zoo.Layout          // each hidden neuron's incoming weights on a sphere, last layer on one
let v = Manifold.logmap M (canon.narrow(0L, 0L, 1L)) (canon.narrow(0L, 1L, 1L))
let barriers = Barrier.crossEntropy zoo.Layout 3 data.Train.X data.Train.Y (theta.narrow(0L, 0L, 8L)) (theta.narrow(0L, 8L, 8L))

// The velocity model: a sparse Relational Transformer over the network graph.
let graph = NeuralGraph.create torch.CPU zoo.Layout
let gen = Scope.Rng.create 0L
let model = RelationalTransformer.init gen torch.CPU (RelationalTransformer.Config.defaults 32 5) zoo.Layout
let out = RelationalTransformer.apply model graph (torch.full(8L, 0.5f)) (theta.narrow(0L, 0L, 8L))   // [8, P]

// One training step (regressing the model's output onto the aligned weights), with Optim's flat Adam.
let opt = Optim.create (Optim.adam 1e-3) (RelationalTransformer.parameters model)
let loss = Optim.minimize opt (fun () ->
    (RelationalTransformer.apply model graph (torch.full(8L, 0.5f)) (theta.narrow(0L, 0L, 8L)) - aligned.narrow(0L, 0L, 8L)).square().mean())

printfn "zoo %d x %d, mean accuracy %.4f, |logmap| %.4f, mean midpoint barrier %.4f, RT output %A, loss %.4f"
    (int theta.shape[0]) (int theta.shape[1]) (acc.mean().ToDouble()) (v.norm().ToDouble())
    (barriers.Midpoint.mean().ToDouble()) out.shape loss
