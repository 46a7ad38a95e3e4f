// A faithful port of the published guided sampling (weightflow 867a470: flow/flow_matching.py `CFM.map`,
// flow/forces.py `get_force_field`; anchors §6 and pitfall P8) for the MNIST -> Fashion-MNIST transfer of thesis
// Table 7.3, run from a cached MNIST flow (issue 13, docs/mnist/fash8.md). What the port reproduces:
// - grid: n_steps grid points linspace(0, 1, n_steps), the field evaluated at all but the last, so n_steps - 1 Euler
//   steps with dt = 1/(n_steps - 1) (the thesis' "512 steps" = 511 steps here);
// - velocity v = x̂1(x_t, t) - x0 (x0 the trajectory's prior draw), evaluated without gradients;
// - force: per network, one FRESH shuffled minibatch of 64 Fashion-MNIST training rows per step (the anchor re-creates
//   the shuffled loader's iterator for every network and takes its first batch), mean CE, f = -∇θ L at x_t;
//   v ← v + λ·f; x ← x + v·dt; no noise, no projection;
// - LAYOUT p8: the anchor concatenates PyTorch's parameter gradients, each weight flattened in its (out, in)
//   orientation, then the biases, while x holds each weight block in (in, out) order (pitfall P8): the force's block of
//   layer l is Gₗ (out × in) flattened row-major and laid into the (in × out) block as is (a transpose for a square
//   layer, a scramble for 784 × 10). LAYOUT correct: the gradient in x's own order. The script checks its P8 map
//   against an explicit per-parameter (out, in) autograd on a small net before running.
// Arms (ARMS, comma-separated): flow:p8, flow:correct (guided flow), control:p8, control:correct (velocity 0 from the
// SAME prior draws and the same minibatch stream: guidance alone), iso:p8, iso:correct (velocity 0 from N(0, 0.1² I)
// draws, the thesis' prior; weights only, biases 0 as the zoo's initialisation), unguided (the flow, λ 0).
// LAMBDAS: ascending λ grid; an arm's sweep stops at the first λ whose mean Fashion VALIDATION accuracy is ≥ STOP
// (unless STOP=none). Every row saves its samples (OUT/<tag>.pt) for the test-half judgement (fash8-judge.fsx) and
// prints validation accuracy (mean, sd, min, max), validation CE, MNIST test accuracy, ‖x1 - x0‖ and CPU s.
//
//   WEIGHTFLOW_THREADS=1 FLOW=path.safetensors NAME=fullcov OUT=results/fash8 dotnet fsi scripts/fash8-guide.fsx
// Settings: FLOW, NAME (row-tag prefix), OUT [results/fash8], ARMS [unguided,flow:p8,flow:correct,control:p8,
// control:correct], LAMBDAS [0.1,1,10,100: flow arms], LAMBDAS_CONTROL [0.1,1,10,100,1000: velocity-0 arms], STOP [0.70], COUNT [16], NSTEPS [512 grid points], SEED [11], BATCH [64].
#load "_load.fsx"
open _load
open System
open System.IO
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let count = int (env "COUNT" "16")
let nSteps = int (env "NSTEPS" "512")
let seed = int64 (env "SEED" "11")
let batch = int (env "BATCH" "64")
let name = env "NAME" "flow"
let outDir = env "OUT" "results/fash8"
let stop = match env "STOP" "0.70" with "none" -> None | s -> Some (float s)
let lambdas = (env "LAMBDAS" "0.1,1,10,100").Split ',' |> Array.map float
let lambdasControl = (env "LAMBDAS_CONTROL" "0.1,1,10,100,1000").Split ',' |> Array.map float
let arms = (env "ARMS" "unguided,flow:p8,flow:correct,control:p8,control:correct").Split ','
Directory.CreateDirectory outDir |> ignore
let cpu () = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds

/// The anchor's force layout (P8): each weight block's gradient, taken in x's (in, out) order [B, in·out], re-laid as
/// PyTorch's (out, in) gradient flattened row-major into the same slots; biases unchanged.
let p8 (layout: Layout) (g: Tensor) : Tensor =
    let parts =
        [| for l in 0 .. Layout.depth layout - 1 ->
               let fin, fout = Layout.dims layout l
               Layout.weightT layout l g (* [B, in, out] *) |> fun w -> w.transpose(1L, 2L).contiguous().view(-1L, int64 (fin * fout))
           yield g.narrow(1L, int64 (Layout.weightCount layout), int64 (Layout.biasCount layout)) |]
    torch.cat(parts, 1L)

// Self-check of `p8` against the anchor's construction on a 5-3-4 net: PyTorch-orientation leaves W (out, in), b,
// the same network, autograd per parameter, concat(flatten(W_l)...) ++ (b_l ...) exactly as forces.py. Tolerance
// 1e-6 absolute: both sides are the same float32 gradients, reordered (differences would be whole misplaced entries).
do
    let lay = Layout.parse "5-3-4"
    use gen = Scope.Rng.create 3L
    let theta = torch.randn([| 2L; int64 (Layout.paramCount lay) |], generator = gen)
    let x = torch.randn([| 7L; 5L |], generator = gen)
    let y = torch.tensor([| 0L; 1L; 2L; 3L; 0L; 1L; 2L |])
    let loss (th: Tensor) = Mlp.crossEntropy lay th x y
    let g = Guidance.gradient loss theta
    let mine = p8 lay g
    let anchor =
        [| for b in 0 .. 1 ->
               use _ = torch.enable_grad ()
               let th = theta[int64 b].unsqueeze(0L)
               let ws = [| for l in 0 .. 1 -> (Layout.weightT lay l th).squeeze(0L).transpose(0L, 1L).contiguous().detach().requires_grad_(true) |]
               let bs = [| for l in 0 .. 1 -> (Layout.bias lay l th).squeeze(0L).contiguous().detach().requires_grad_(true) |]
               let h = torch.nn.functional.relu(torch.nn.functional.linear(x, ws[0], bs[0]))
               let logits = torch.nn.functional.linear(h, ws[1], bs[1])
               let l = torch.nn.functional.cross_entropy(logits, y)
               let gs = torch.autograd.grad([| l |], Array.append ws bs)
               torch.cat([| gs[0].flatten(); gs[1].flatten(); gs[2].flatten(); gs[3].flatten() |], 0L) |]
        |> fun rows -> torch.stack(rows, 0L)
    let err = (mine - anchor).abs().max().ToDouble()
    let errCorrect = (g - anchor).abs().max().ToDouble()
    if err > 1e-6 then failwith $"p8 self-check failed: max |p8(g) - anchor| = {err}"
    printfn "p8 self-check: max |p8(g) - anchor force order| = %.2e; |correct-order g - anchor| = %.3f (the layouts differ)" err errCorrect

let flow = Flow.load torch.CPU (env "FLOW" "")
let layout = Flow.layout flow
let space = Flow.spaceOn flow layout
let fashion = Sources.load Task.FashionMnist 0L
let mnist = Sources.load Task.Mnist 0L
let trainX, trainY = fashion.Train.X, fashion.Train.Y
let nTrain = int trainX.shape[0]

/// Per network, a fresh random 64-row minibatch (rows without replacement, as the first batch of a new shuffle); the
/// mean CE of each network on its own rows: [B].
let lossFresh (gen: torch.Generator) (theta: Tensor) : Tensor =
    let b = theta.shape[0]
    let rows = torch.stack([| for _ in 1L .. b -> torch.randperm(int64 nTrain, generator = gen).narrow(0L, 0L, int64 batch) |], 0L)
    let flat = rows.flatten()
    let xb = trainX.index_select(0L, flat).view(b, int64 batch, -1L)
    let yb = trainY.index_select(0L, flat).view(b, int64 batch)
    Mlp.crossEntropy layout theta xb yb

/// The anchor's loop: n_steps grid points, n_steps - 1 Euler steps, v = x̂1 - x0 (or 0), v += λ·force(x_t).
let run (useFlow: bool) (lambda: float) (p8Layout: bool) (x0: Tensor) : Tensor =
    use lossGen = Scope.Rng.create (Scope.Rng.derive seed 2L)
    let dt = 1.0 / float (nSteps - 1)
    let predict = Flow.predictOn flow layout
    let mutable x = x0.clone()
    for k in 0 .. nSteps - 2 do
        let next =
            use _ = torch.NewDisposeScope()
            let t = float k * dt
            let v =
                if useFlow then
                    use _ = torch.no_grad ()
                    predict (torch.full([| x.shape[0] |], scalar t)) x - x0
                else torch.zeros_like x
            let v =
                if lambda > 0.0 then
                    let g = Guidance.gradient (lossFresh lossGen) x
                    let g = if p8Layout then p8 layout g else g
                    v - g * lambda
                else v
            (x + v * dt).MoveToOuterDisposeScope()
        x.Dispose()
        x <- next
    x

let stats (data: Split) (theta: Tensor) =
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let logits = Predictive.logits layout data.X theta
        let acc = Mlp.accuracyOfLogits logits data.Y
        let ce = Mlp.crossEntropyOfLogits logits data.Y
        acc.mean().ToDouble(), acc.std().ToDouble(), acc.min().ToDouble(), acc.max().ToDouble(), ce.mean().ToDouble(), ce.std().ToDouble())

let xFlow =
    use gen = Scope.Rng.create seed
    Prior.sampleTempered 1.0 flow.Prior space gen torch.CPU count
let xIso =
    use gen = Scope.Rng.create seed
    Mlp.init gen torch.CPU layout count 0.1
let inv (x: float) = x.ToString("R", Globalization.CultureInfo.InvariantCulture)
printfn "flow %s (%s), %d samples, %d grid points = %d Euler steps, dt = 1/%d, seed %d, minibatch %d per network per step" name (string layout) count nSteps (nSteps - 1) (nSteps - 1) seed batch
printfn "| row | λ | Fashion valid acc mean (sd) [min, max] | valid CE mean (sd) | MNIST test acc | ‖x1 − x0‖ | CPU s |"
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for arm in arms do
    let useFlow, p8Layout, x0, grid =
        match arm with
        | "unguided" -> true, false, xFlow, [| 0.0 |]
        | "flow:p8" -> true, true, xFlow, lambdas
        | "flow:correct" -> true, false, xFlow, lambdas
        | "control:p8" -> false, true, xFlow, lambdasControl
        | "control:correct" -> false, false, xFlow, lambdasControl
        | "iso:p8" -> false, true, xIso, lambdasControl
        | "iso:correct" -> false, false, xIso, lambdasControl
        | a -> failwith $"arm {a}?"
    let mutable stopped = false
    for lambda in grid do
        if not stopped then
            let c0 = cpu ()
            use theta = run useFlow lambda p8Layout x0
            let tag = $"{name}_{arm.Replace(':', '-')}_{inv lambda}"
            theta.save(Path.Combine(outDir, tag + ".pt")) |> ignore
            let m, sd, lo, hi, ce, ceSd = stats fashion.Valid theta
            let ma, _, _, _, _, _ = stats mnist.Test theta
            let moved = (theta - x0).square().sum(1L).sqrt().mean().ToDouble()
            printfn "| %s | %s | %.4f (%.4f) [%.4f, %.4f] | %.3f (%.3f) | %.4f | %.3f | %.0f |" tag (inv lambda) m sd lo hi ce ceSd ma moved (cpu () - c0)
            use _ = torch.no_grad ()
            let accs = Scope.value (fun () -> (Mlp.accuracy layout theta fashion.Valid.X fashion.Valid.Y).to_type(torch.float64).data<float>().ToArray())
            printfn "per-sample valid %s: %s" tag (String.Join(" ", accs |> Array.map (sprintf "%.4f")))
            match stop with
            | Some s when m >= s -> stopped <- true
            | _ -> ()
