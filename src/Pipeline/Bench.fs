/// What the benchmarks (`weightflow bench zoo|align|model`) run, so that the CLI only times and renders: the machine's
/// matmul peak, a velocity-model training rig, and synthetic zoo trajectories.
[<RequireQualifiedAccess>]
module WeightFlow.Bench

open System
open System.Diagnostics
open TorchSharp

/// GFLOP/s of a 2048² float32 matmul on this machine (best of `reps`).
let matmulPeak (reps: int) : float =
    use gen = Scope.Rng.create 0L
    use a = torch.randn([| 2048L; 2048L |], generator = gen)
    use b = torch.randn([| 2048L; 2048L |], generator = gen)
    (use _ = a.matmul(b) in ())
    let best =
        [ for _ in 1 .. reps ->
            let sw = Stopwatch.StartNew()
            use _ = a.matmul(b)
            sw.Elapsed.TotalSeconds ]
        |> List.min
    2.0 * 2048.0 ** 3.0 / best / 1e9

/// One velocity-model training setup for timing: a seeded model, fixed random input networks, targets and times,
/// and Adam. `Step` runs forward + backward + Adam in its own dispose scope and returns the loss; `Forward` runs the
/// forward pass alone without gradients.
[<NoEquality; NoComparison>]
type Rig =
    { Config: RelationalTransformer.Config; Graph: NeuralGraph; Parameters: int64; Step: unit -> float; Forward: unit -> unit; Dispose: unit -> unit }

/// A Relational Transformer with 5 layers of width `width` over the graph of `layout`, regressing a batch of `batch`
/// random networks onto random targets (seeds 0 and 1).
let rig (layout: Layout) (width: int) (batch: int) (neighbourhood: RelationalTransformer.Neighbourhood) : Rig =
    let g = NeuralGraph.create torch.CPU layout
    let config = { RelationalTransformer.Config.defaults width 5 with Neighbourhood = neighbourhood }
    let model = (use gen = Scope.Rng.create 0L in RelationalTransformer.init gen torch.CPU config layout)
    let ps = RelationalTransformer.parameters model
    use gen = Scope.Rng.create 1L
    let p = int64 (Layout.paramCount layout)
    let theta = torch.randn([| int64 batch; p |], generator = gen).mul(scalar 0.1)
    let target = torch.randn([| int64 batch; p |], generator = gen).mul(scalar 0.1)
    let t = torch.rand([| int64 batch |], generator = gen)
    let opt = Optim.create (Optim.adam 1e-3) ps
    { Config = config; Graph = g; Parameters = Params.count ps
      Step = fun () -> Optim.minimize opt (fun () -> (RelationalTransformer.apply model g t theta - target).square().mean())
      Forward = fun () -> Scope.value (fun () -> (use _ = torch.no_grad () in RelationalTransformer.apply model g t theta) |> ignore)
      Dispose = fun () ->
        for x in [ theta; target; t ] do x.Dispose()
        Optim.dispose opt
        Params.dispose ps
        (g :> IDisposable).Dispose() }

/// Synthetic zoo trajectories of a layout's shape, costing alignment about what a real zoo costs: R runs of T
/// checkpoints, a random initial network per run (N(0, 0.3²)) plus a Gaussian random walk (steps N(0, 0.01²)),
/// as [R·T, P], from a generator seeded with `seed`.
let syntheticTrajectories (seed: int64) (layout: Layout) (runs: int) (perRun: int) : Tensor =
    use g = Scope.Rng.create seed
    let p = int64 (Layout.paramCount layout)
    use start = torch.randn([| int64 runs; 1L; p |], generator = g).mul(scalar 0.3)
    use steps = torch.randn([| int64 runs; int64 perRun; p |], generator = g).mul(scalar 0.01)
    (start + steps.cumsum(1L)).reshape(-1L, p)
