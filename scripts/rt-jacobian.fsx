// Does message passing reach other edges in a *trained* flow? (issue 13; the UCI Euclidean RT's weakness at small t,
// issue 11.) The MNIST RT flows sit on the loss of a per-coordinate linear denoiser (scripts/mnist-denoiser-bounds.fsx),
// which is what a model whose output for weight i reads only x_t,i and t would reach. This script measures how much of
// the model's dependence on x_t is *off the diagonal*: for a trained flow, at t ∈ {0.1, 0.5, 0.9} and a few x_t on the
// flow's own path (x0 from the flow's prior, x1 a zoo checkpoint in the flow's space), the full Jacobian of
//   x̂1  = Flow.predict flow t x_t (what the sampler uses: includes EDM's c_skip·x_t, a pure diagonal, and the
//          Geometric flow's projection, which couples each neuron's weights by itself), and of
//   F   = the network alone on its (c_in-scaled) input (the velocity model's output, no skip, no projection),
// each by one backward pass over P copies of x_t (rows are independent networks, so Σ_i out[i, i] puts row i in copy i).
// Reported: off = ‖J − diag J‖_F / ‖J‖_F over all rows and per output block (each layer's weights W_l and bias b_l),
// averaged over the points. 0 = per-coordinate (no message passing); 1 = no dependence on the own coordinate. The last
// two columns split ‖J‖²_F (not its square root) into entries from coordinates sharing a neuron with the output's (one
// hop) and from all others (two or more hops; the RT reaches them only through its stacked layers).
//
//   [DIR=/work/wt/full/results/reproduce-uci] [FLOWS="flow-euclidean-(aligned).safetensors,flow-geometric-(aligned).safetensors"]
//   [ZOO=zoo-uci-aligned.safetensors] [POINTS=3] WEIGHTFLOW_THREADS=1 dotnet fsi scripts/rt-jacobian.fsx
// FLOWS may hold absolute paths (e.g. an MLP flow trained elsewhere); the zoo must be on the flows' layout.
#load "_load.fsx"
open _load
open System
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let dir = env "DIR" "/work/wt/full/results/reproduce-uci"
let inDir (f: string) = if IO.Path.IsPathRooted f then f else IO.Path.Combine(dir, f)
let flows = (env "FLOWS" "flow-euclidean-(aligned).safetensors,flow-geometric-(aligned).safetensors").Split(',') |> Array.map inDir
let zoo = Zoo.load (inDir (env "ZOO" "zoo-uci-aligned.safetensors"))
let points = int (env "POINTS" "3")
let times = [| 0.1; 0.5; 0.9 |]
printfn "# zoo %s (%d checkpoints, %s); %d points per t; load %s" (env "ZOO" "zoo-uci-aligned.safetensors") (int zoo.Theta.shape[0]) (string zoo.Layout) points ((IO.File.ReadAllText "/proc/loadavg").[0..13])

/// Row blocks of the flat order (Layout.fs): each layer's weights, then each layer's bias.
let blocks (l: Layout) =
    [ for i in 0 .. Layout.depth l - 1 -> $"W{i + 1}", Layout.weightOffset l i, fst (Layout.dims l i) * snd (Layout.dims l i) ]
    @ [ for i in 0 .. Layout.depth l - 1 -> $"b{i + 1}", Layout.biasOffset l i, snd (Layout.dims l i) ]

/// The Jacobian [P, P] (float64 on the CPU) of f: [B, P] -> [B, P] at x [1, P], in chunks of rows.
let jacobian (f: Tensor -> Tensor) (x: Tensor) : float[,] =
    let p = int x.shape[1]
    let chunk = 128
    let j = Array2D.zeroCreate p p
    for start in 0 .. chunk .. p - 1 do
        use _ = torch.NewDisposeScope()
        use _ = torch.enable_grad ()
        let k = min chunk (p - start)
        let xs = x.expand(int64 k, -1L).contiguous().requires_grad_(true)
        let out = f xs
        let idx = torch.arange(int64 start, int64 (start + k), dtype = torch.int64).unsqueeze(1L)
        let picked = out.gather(1L, idx).sum()
        let grads = torch.autograd.grad([| picked |], [| xs |])
        let g = grads[0].to_type(torch.float64).contiguous()
        let a = g.data<float>().ToArray()
        for r in 0 .. k - 1 do
            for c in 0 .. p - 1 do j[start + r, c] <- a[r * p + c]
    j

/// ‖J − diag J‖_F / ‖J‖_F over rows [a, a + n).
let offShare (j: float[,]) (a: int) (n: int) =
    let mutable all, diag = 0.0, 0.0
    for r in a .. a + n - 1 do
        for c in 0 .. Array2D.length2 j - 1 do
            let v = j[r, c] * j[r, c]
            all <- all + v
            if r = c then diag <- diag + v
    if all = 0.0 then nan else sqrt ((all - diag) / all)

/// The neurons (layer, index) each flat coordinate touches: a weight its two end neurons, a bias its own neuron.
let neurons (l: Layout) : Set<int * int>[] =
    [| for i in 0 .. Layout.depth l - 1 do
         let fin, fout = Layout.dims l i
         for a in 0 .. fin - 1 do
             for b in 0 .. fout - 1 -> set [ i, a; i + 1, b ]
       for i in 0 .. Layout.depth l - 1 do
         for b in 0 .. snd (Layout.dims l i) - 1 -> Set.singleton (i + 1, b) |]

/// Shares of ‖J‖²_F: from coordinates that share a neuron with the output's (one hop in the neural graph) and from
/// all others (two or more hops); the rest is the diagonal.
let hopShares (touch: Set<int * int>[]) (j: float[,]) =
    let mutable all, near, far = 0.0, 0.0, 0.0
    for r in 0 .. Array2D.length1 j - 1 do
        for c in 0 .. Array2D.length2 j - 1 do
            let v = j[r, c] * j[r, c]
            all <- all + v
            if r <> c then
                if Set.isEmpty (Set.intersect touch[r] touch[c]) then far <- far + v else near <- near + v
    near / all, far / all

let started = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime
for path in flows do
    if not (IO.File.Exists path) then printfn "\n%s: not found, skipped" path else
    let flow = Flow.load torch.CPU path
    let space = Flow.space flow
    let layout = Flow.layout flow
    if layout <> zoo.Layout then failwith $"{path} is a {layout} flow but the zoo holds {zoo.Layout} networks."
    let p = Layout.paramCount layout
    let bs = blocks layout
    printfn "\n%s: %s flow, %s model, prediction %s, %s" (IO.Path.GetFileName path) (FlowKind.text space.Kind)
        (VelocityModel.kindName flow.Model.Config) (Prediction.text flow.Prediction) (sprintf "%A" space.Preconditioning |> fun s -> s.Split('\n').[0])
    let model = flow.Model.On layout
    // the network alone on its input as the flow feeds it (c_in·x_t under input scaling; z_t for a standardized prior)
    let network (t: Tensor) (x: Tensor) =
        let x' = match Prior.standardize flow.Prior layout with Some (toZ, _) -> toZ x | None -> x
        match space.Preconditioning with
        | Unscaled -> model t x'
        | ScaledInput s | ScaledInputOutput s ->
            let cIn, _, _ = Preconditioning.coefficients s layout t x'.device
            model t (x' * cIn)
    let touch = neurons layout
    printfn "%-4s %-3s %6s  %s  %7s %7s" "t" "J" "off" (String.Join("  ", bs |> List.map (fun (n, _, _) -> $"%6s{n}"))) "1hop²" "2+hop²"
    use gen = Scope.Rng.create 0L
    let x0 = Flow.samplePrior flow gen torch.CPU points
    // zoo checkpoints spread over the file, in the flow's space (canonicalized for the Normalized/Geometric flows)
    use rows = torch.tensor([| for i in 0 .. points - 1 -> int64 ((2 * i + 1) * int zoo.Theta.shape[0] / (2 * points)) |])
    use picked = zoo.Theta.index_select(0L, rows)
    let x1 = FlowSpace.embed space picked
    for tv in times do
        use t = torch.full([| int64 points |], scalar tv, dtype = torch.float32)
        use xt = Scope.noGrad (fun () -> Path.sample space.Path gen x0 x1 t |> fun x -> x.DetachFromDisposeScope())
        for name, f in [ "x1", (fun (tt: Tensor) (x: Tensor) -> Flow.predict flow tt x); "F", network ] do
            let shares =
                [| for i in 0 .. points - 1 ->
                    use xi = xt.narrow(0L, int64 i, 1L)
                    use ti = torch.full([| 1L |], scalar tv, dtype = torch.float32)
                    let j = jacobian (fun xs -> f (ti.expand(xs.shape[0])) xs) xi
                    let near, far = hopShares touch j
                    Array.concat [ [| offShare j 0 p |]; [| for _, a, n in bs -> offShare j a n |]; [| near; far |] ] |]
            let mean k = shares |> Array.averageBy (fun s -> s[k])
            printfn "%-4.1f %-3s %6.3f  %s  %7.3f %7.3f" tv name (mean 0) (String.Join("  ", [ for k in 1 .. bs.Length -> sprintf "%6.3f" (mean k) ])) (mean (bs.Length + 1)) (mean (bs.Length + 2))
let cpu = (Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - started).TotalSeconds
printfn "\n# %.0f CPU s for the Jacobians (process total %.0f s); load %s" cpu (Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds) ((IO.File.ReadAllText "/proc/loadavg").[0..13])
