// Fig. 7.6 at the thesis' horizon and the diagnosis of slow flow initialisation (issue 13; pre-stated plan
// docs/mnist/fashion-transfer.md (a) and (b); thesis §7.3.3, anchors §9 "Learned init": Adam lr 1e-3, 25 epochs of the
// 60k Fashion-MNIST training set). Runs the reproduction's own Adam code (`ReproduceTransfer.adamTrajectory`, the
// full preset's settings but the horizon) from several initialisations, 5 runs each, the same minibatch stream, and
// prints per init: the iterations to reach 0.70 / 0.80 mean test accuracy, accuracy and CE at fixed marks, and at the
// diagnosis marks the weight / logit scale, confidence and dead hidden units on Fashion-MNIST and MNIST test inputs.
//
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/fashion-adam.fsx
// Settings by environment (defaults in brackets): OUT [results/reproduce-mnist: the MNIST reproduction's folder with
// its flows and zoo], BATCH [128], EPOCHS [25], EVERY [50], INITS [gaussian,flow,sgd,scaled: comma-separated;
// gaussian = N(0, 0.1² I) weights, zero biases, as the preset; flow = 5 unguided samples of the Euclidean RT flow from
// the full-covariance prior, conditional rule, the job's Euler steps, as the preset; sgd = the final checkpoints of
// the MNIST zoo's last 5 (held-out) runs; scaled = Gaussian with the flow samples' per-layer weight and bias RMS;
// flowfile:PATH = 5 unguided samples of another flow file, 100 Euler steps], CURVES [none: a file to write the curves
// to, one JSON line per init].
#load "_load.fsx"
open _load
open System
open System.IO
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let outDir = env "OUT" (Path.Combine("results", "reproduce-mnist"))
let batch = int (env "BATCH" "128")
let epochs = int (env "EPOCHS" "25")
let every = int (env "EVERY" "50")
let inits = (env "INITS" "gaussian,flow,sgd,scaled").Split ','
let c0 = ReproduceTransfer.config Full 0L outDir
let j = c0.Mnist.Job
let fashion = Sources.load c0.Target j.Zoo.Seed
let mnist = Sources.load j.Task j.Zoo.Seed
let layout = j.Zoo.Layout
let ntrain = int fashion.Train.X.shape[0]
// 25 epochs of the training set at this batch, rounded up (anchors §9; sampled with replacement here)
let iterations = (epochs * ntrain + batch - 1) / batch
let c = { c0 with AdamBatch = batch; AdamIterations = iterations; AdamEvery = every }
let runs = c.AdamRuns
let cpu () = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds
printfn "Fashion-MNIST: %d training rows, %d test rows; Adam lr %g, batch %d, %d iterations (%d epochs), %d runs, evaluated every %d"
    ntrain (int fashion.Test.X.shape[0]) c.AdamLearningRate batch iterations epochs runs every

let euclid =
    j.Flows |> List.find (fun f -> f.Training.Flow = Euclidean && VelocityConfig.kind f.Training.Model <> VelocityKind.Mlp)
let flowSamples (flow: Flow) (steps: int) =
    let config = { SamplingConfig.defaults runs with Steps = steps; Rule = VelocityRule.Conditional; Layout = Some layout; Seed = j.Seed + 11L }
    (Sampling.sample config ignore torch.CPU flow).Theta
let rms (t: Tensor) = t.square().mean().sqrt().ToDouble()

// the diagnosis (plan (b)): a unit is dead on a data set when its ReLU output is 0 on ≥ 99% of the set's test inputs
let diagnose (theta: Tensor) =
    use _ = torch.no_grad ()
    Scope.value (fun () ->
        let hidden (x: Tensor) =
            let b = theta.shape[0]
            torch.nn.functional.relu(torch.bmm(x.unsqueeze(0L).expand(b, -1L, -1L), Layout.weightT layout 0 theta).add((Layout.bias layout 0 theta).unsqueeze(1L)))
        let deadFrac (x: Tensor) = (hidden x).gt(scalar 0.0).to_type(torch.float32).mean([| 1L |]).le(scalar 0.01).to_type(torch.float32).mean().ToDouble()
        let hf = hidden fashion.Test.X
        let activePerInput = hf.gt(scalar 0.0).to_type(torch.float32).mean().ToDouble()
        let logits = Mlp.forward layout theta fashion.Test.X
        let acc = Mlp.accuracyOfLogits logits fashion.Test.Y
        let ce = Mlp.crossEntropyOfLogits logits fashion.Test.Y
        let conf = torch.nn.functional.softmax(logits, -1L).amax([| -1L |]).mean().ToDouble()
        let w1 = Layout.weightT layout 0 theta
        let medW1 = w1.abs().flatten().median().ToDouble()
        $"acc %.3f{acc.mean().ToDouble()} (%.3f{acc.min().ToDouble()}-%.3f{acc.max().ToDouble()}) | CE %.2f{ce.mean().ToDouble()} | conf %.2f{conf} | RMS W1 %.4f{rms w1} b1 %.3f{rms (Layout.bias layout 0 theta)} W2 %.3f{rms (Layout.weightT layout 1 theta)} b2 %.3f{rms (Layout.bias layout 1 theta)} | logit RMS %.2f{rms logits} | dead Fashion %.2f{deadFrac fashion.Test.X} MNIST %.2f{deadFrac mnist.Test.X} | active/input %.2f{activePerInput} | lr/med|W1| %.4f{c.AdamLearningRate / medW1}")

let diagMarks = set [ 0; 100; 1000; iterations ]
let marks = [ 0; 100; 500; 1000; 2000; 5000; iterations ]

let initial (name: string) : string * Tensor =
    match name with
    | "gaussian" ->
        use g = Scope.Rng.create (Scope.Rng.derive j.Seed 17L)
        $"N(0, {j.Zoo.InitStd}² I)", Mlp.init g torch.CPU layout runs j.Zoo.InitStd
    | "flow" ->
        let flow = Flow.load torch.CPU (MainJob.flowPath j euclid)
        $"{euclid.Name} flow samples (MNIST)", flowSamples flow j.Sampling.Steps
    | "sgd" ->
        let zoo = Zoo.load (Path.Combine(outDir, "zoo-mnist.safetensors"))
        let finals = Zoo.finalIndices zoo
        let last = finals |> Array.skip (finals.Length - runs)
        use idx = torch.tensor(last |> Array.map int64)
        $"SGD-trained MNIST nets (final checkpoints of runs {zoo.Run[last[0]]}-{zoo.Run[last[runs - 1]]})", zoo.Theta.index_select(0L, idx)
    | "scaled" ->
        // Gaussian with the flow samples' per-layer RMS: does weight scale alone make Adam slow?
        let flow = Flow.load torch.CPU (MainJob.flowPath j euclid)
        use s = flowSamples flow j.Sampling.Steps
        use g = Scope.Rng.create (Scope.Rng.derive j.Seed 23L)
        let theta = torch.zeros(s.shape, dtype = torch.float32)
        let scales = ResizeArray<string>()
        for i in 0 .. Layout.depth layout - 1 do
            let sw, sb = rms (Layout.weightT layout i s), rms (Layout.bias layout i s)
            scales.Add($"W{i + 1} %.3f{sw} b{i + 1} %.3f{sb}")
            (Layout.weightT layout i theta).copy_(torch.randn((Layout.weightT layout i theta).shape, generator = g).mul(scalar sw)) |> ignore
            (Layout.bias layout i theta).copy_(torch.randn((Layout.bias layout i theta).shape, generator = g).mul(scalar sb)) |> ignore
        let joined = String.Join(", ", scales)
        $"Gaussian at the flow samples' per-layer RMS ({joined})", theta
    | s when s.StartsWith "flowfile:" ->
        let path = s.Substring "flowfile:".Length
        $"{Path.GetFileNameWithoutExtension path} flow samples (MNIST)", flowSamples (Flow.load torch.CPU path) 100
    | s -> failwith $"INITS: unknown initialisation '{s}' (gaussian, flow, sgd, scaled, flowfile:PATH)"

let curves = ResizeArray<AdamCurve>()
for name in inits do
    let t0 = cpu ()
    let label, theta0 = initial name
    printfn "\n## %s" label
    let curve =
        ReproduceTransfer.adamTrajectory c layout fashion label (fun k theta -> if diagMarks.Contains k then printfn "  it %5d: %s" k (diagnose theta)) theta0
    theta0.Dispose()
    let reach (bar: float) = curve.AccuracyMean |> Array.tryFindIndex (fun a -> a >= bar) |> Option.map (fun i -> string curve.Iterations[i]) |> Option.defaultValue "never"
    let at k = curve.Iterations |> Array.tryFindIndex ((=) k) |> Option.map (fun i -> $"%.3f{curve.AccuracyMean[i]} (CE %.3f{curve.LossMean[i]})") |> Option.defaultValue "-"
    printfn "  reach 0.70: %s | reach 0.80: %s | %s" (reach 0.70) (reach 0.80) (String.Join(" | ", [ for k in marks -> $"{k}: {at k}" ]))
    printfn "  %.0f CPU s" (cpu () - t0)
    curves.Add curve

match env "CURVES" "" with
| "" -> ()
| path -> File.WriteAllLines(path, [ for cv in curves -> Text.Json.JsonSerializer.Serialize cv ])
