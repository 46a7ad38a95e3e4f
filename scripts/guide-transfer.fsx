// Guided transfer of an MNIST flow to another task (issue 13, thesis §6.5.1 eq. 6.1, Table 7.3 / 7.4): samples a flow
// under several velocity rules and guidance strengths with the same prior draws and minibatch stream, and prints each
// setting's accuracy on the target task's test split (mean, min, max, BMA over all samples) and on MNIST's, the
// task-loss gradient's per-sample size at the prior draws (the loss-scale check against the anchor's mean CE over 64
// rows) and the CPU seconds of each setting. The rule `prior-only` is the honest control: velocity 0, i.e. gradient
// descent from the flow's own prior draws with step λ·dt and the same minibatches — what guidance does without the flow.
//
//   WEIGHTFLOW_THREADS=1 nice -n 5 dotnet fsi scripts/guide-transfer.fsx
// Settings by environment (defaults in brackets): FLOW [required: a flow file, or `isotropic` for an untrained RT
// flow with the default prior N(0, 0.1² I) on 784-10-10, meaningful only with prior-only], TASK [fashion-mnist],
// LAYOUT [the flow's: e.g. 784-32-10 for Table 7.4], COUNT [16], STEPS [512], SEED [11],
// RUNS [none:0,conditional:0.1,anchor:0.1,prior-only:0.1: comma-separated RULE:LAMBDA[:state|prediction]; RULE one of
// conditional | anchor | prior-only; LAMBDA 0 = unguided], BATCH [64: guidance minibatch rows], PER_SAMPLE [0; 1
// prints each sample's target accuracy].
#load "_load.fsx"
open _load
open System
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let task = Task.parse (env "TASK" "fashion-mnist")
let count = int (env "COUNT" "16")
let steps = int (env "STEPS" "512")
let seed = int64 (env "SEED" "11")
let batch = int (env "BATCH" "64")
let flow =
    match env "FLOW" "" with
    | "" -> failwith "FLOW=path/to/file.flow (or FLOW=isotropic for the prior-only control from N(0, 0.1² I))"
    | "isotropic" ->
        let layout = Layout.parse "784-10-10"
        use gen = Scope.Rng.create 1L
        let model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults VelocityKind.Rt 8 1) layout
        { Space = FlowSpace.create Euclidean 1e-4 layout; Prior = Prior.defaults; Prediction = Endpoint; Model = model }
    | p -> Flow.load torch.CPU p
let layout = match env "LAYOUT" "" with "" -> Flow.layout flow | l -> Layout.parse l
let target = Sources.load task 0L
let mnist = Sources.load Task.Mnist 0L
let parseRun (s: string) =
    match s.Split ':' with
    | [| r; l |] | [| r; l; _ |] as parts ->
        let rule =
            match r with
            | "conditional" | "none" -> VelocityRule.Conditional
            | "anchor" -> VelocityRule.AnchorDisplacement
            | "prior-only" -> VelocityRule.PriorOnly
            | _ -> failwith $"rule {r}?"
        let at = if parts.Length = 3 && parts[2] = "prediction" then GuideAt.Prediction else GuideAt.State
        s, rule, float l, at
    | _ -> failwith $"run {s}? (RULE:LAMBDA[:state|prediction])"
let runs = (env "RUNS" "none:0,conditional:0.1,anchor:0.1,prior-only:0.1").Split ',' |> Array.map parseRun

let cpu () = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
let stats (data: Dataset) (theta: Tensor) =
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let logits = Predictive.logits layout data.Test.X theta
        let acc = Mlp.accuracyOfLogits logits data.Test.Y
        let bma = Mlp.accuracyOfLogits (torch.nn.functional.softmax(logits, -1L).mean([| 0L |], keepdim = true)) data.Test.Y
        acc.mean().ToDouble(), acc.min().ToDouble(), acc.max().ToDouble(), bma.ToDouble(), (Mlp.crossEntropyOfLogits logits data.Test.Y).mean().ToDouble())

// The loss scale: per-sample ‖∇L‖ (mean CE over `batch` training rows, as the anchor's force) at the prior draws.
do
    let space = Flow.spaceOn flow layout
    use gen = Scope.Rng.create seed
    use x0 = Prior.sampleTempered 1.0 flow.Prior space gen torch.CPU count
    use lossGen = Scope.Rng.create 5L
    let loss = Sampling.taskLoss layout target batch lossGen torch.CPU
    use g = Guidance.gradient loss x0
    let w = Layout.weightCount layout
    let n (t: Tensor) = t.square().sum(1L).sqrt().mean().ToDouble()
    printfn "prior draws: ‖x0‖ %.3f; per-sample ‖∇L‖ (mean CE, %d rows) %.4f (weights %.4f, biases %.4f); RMS per coordinate %.2e; λ = 0.1 over t ∈ [0, 1] moves at most %.4f"
        (n x0) batch (n g) (n (g.narrow(1L, 0L, int64 w))) (n (g.narrow(1L, int64 w, g.shape[1] - int64 w))) (g.square().mean().sqrt().ToDouble()) (0.1 * n g)
    let a, _, _, _, ce = stats target x0
    printfn "prior draws on %s: accuracy %.3f, CE %.3f" (Task.name task) a ce

printfn "| %s, %d samples, %d Euler steps, seed %d | %s acc mean (min, max) | BMA | CE | MNIST acc mean | ‖x1 − x0‖ | CPU s |" (string layout) count steps seed (Task.name task)
printfn "| --- | --- | --- | --- | --- | --- | --- |"
for name, rule, lambda, at in runs do
    let c0 = cpu ()
    let guidance = if lambda > 0.0 then Some { Lambda = lambda; At = at; Data = target; Batch = batch } else None
    let config = { SamplingConfig.defaults count with Steps = steps; Rule = rule; Guidance = guidance; Layout = Some layout; Seed = seed }
    let r = Sampling.sample config ignore torch.CPU flow
    use theta = r.Theta
    let space = Flow.spaceOn flow layout
    use gen = Scope.Rng.create seed
    use x0 = Prior.sampleTempered 1.0 flow.Prior space gen torch.CPU count
    let moved = if r.NonFinite.Length = 0 then (theta - x0).square().sum(1L).sqrt().mean().ToDouble() else nan
    let a, lo, hi, bma, ce = stats target theta
    let ma, _, _, _, _ = stats mnist theta
    printfn "| %s | %.3f (%.3f, %.3f) | %.3f | %.3f | %.3f | %.3f | %.0f |%s" name a lo hi bma ce ma moved (cpu () - c0)
        (if r.NonFinite.Length > 0 then $" {r.NonFinite.Length} non-finite dropped" else "")
    // PER_SAMPLE=1: each sample's target-task accuracy (in prior-draw order; rows from the same draws pair up, for
    // the paired test of docs/mnist/fashion-transfer.md (c))
    if env "PER_SAMPLE" "0" = "1" then
        use _ = torch.no_grad ()
        let accs = Scope.value (fun () -> (Mlp.accuracy layout theta target.Test.X target.Test.Y).to_type(torch.float64).data<float>().ToArray())
        printfn "per-sample %s: %s" name (String.Join(" ", accs |> Array.map (sprintf "%.4f")))

// ADAM=1: Fig. 7.6's check with the reproduction's own code (`ReproduceTransfer.adamCurve`, the full preset's
// settings: 5 runs, lr 1e-3, batch 128, 500 iterations): Adam on the target task from the flow's unguided samples
// (the conditional rule, 100 Euler steps, as the reproduction) against from N(0, 0.1² I).
if env "ADAM" "0" = "1" then
    let c = ReproduceTransfer.config Full 0L (IO.Path.GetTempPath())
    let c0 = cpu ()
    use g = Scope.Rng.create (Scope.Rng.derive 0L 17L)
    use gauss = Mlp.init g torch.CPU layout c.AdamRuns 0.1
    let fromGauss = ReproduceTransfer.adamCurve c layout target "N(0, 0.1² I)" gauss
    let fromFlow =
        let r = Sampling.sample { SamplingConfig.defaults c.AdamRuns with Steps = 100; Layout = Some layout; Seed = 11L } ignore torch.CPU flow
        use theta = r.Theta
        ReproduceTransfer.adamCurve c layout target "flow samples" theta
    for cv in [ fromGauss; fromFlow ] do
        let pick k = cv.Iterations |> Array.tryFindIndex ((=) k) |> Option.map (fun i -> $"%.3f{cv.AccuracyMean[i]} (CE %.2f{cv.LossMean[i]})") |> Option.defaultValue "-"
        printfn "Adam from %s: %s" cv.Init (String.Join(" | ", [ for k in [ 0; 25; 50; 100; 200; 300; 500 ] -> $"{k}: {pick k}" ]))
    printfn "Adam: %.0f CPU s" (cpu () - c0)
