#!/usr/bin/env -S dotnet fsi
// Diagnoses the Gaussian toy's learnt field (thesis §7.1): trains the toy flow (N(0, I) -> N(1, I) in the 30-16-16-2
// weight space) and compares the model's x1-prediction with the exact one, E[x1 | x_t] = 1 + t (x_t - t) / v_t,
// v_t = (1 - t)² + t², per parameter group (the three weight matrices, the biases) at several t: the mean error
// ("bias"), the RMS error and the fitted slope of x̂1 on x_t (exact: a(t) = t / v_t); then the per-coordinate mean and
// std of deterministic and stochastic samples. The README's "reproduce gaussians" diagnosis comes from it:
//   WEIGHTFLOW_THREADS=1 dotnet fsi scripts/gaussians-field.fsx --iters 300 --time beta
// Options: --model rt|pna|mlp --width 16 --layers 3 --iters N --batch B --lr X --time beta|uniform --warmup N.
#load "_load.fsx"
open System
open System.Threading
open TorchSharp
open WeightFlow
let args = fsi.CommandLineArgs |> Array.skip 1
let arg name (d: string) = match Array.tryFindIndex ((=) ("--" + name)) args with Some i -> args[i + 1] | None -> d
let kind = match arg "model" "rt" with "mlp" -> VelocityKind.Mlp | "pna" -> VelocityKind.Pna | _ -> VelocityKind.Rt
let width = int (arg "width" "16")
let layers = int (arg "layers" "3")
let iters = int (arg "iters" "300")
let batch = int (arg "batch" "32")
let lr = float (arg "lr" "1e-3")
let ema = float (arg "ema" "0.999")
let warm = int (arg "warmup" "100")
let time = match arg "time" "beta" with "uniform" -> Uniform | _ -> TimeDistribution.defaults
let layout = Layout.parse "30-16-16-2"
let p = Layout.paramCount layout
let c0 = TrainingConfig.cpu Euclidean kind
let c = { c0 with Sigma = 1e-3; Coupling = Independent; Prior = { Std = 1.0 }; Prediction = Endpoint; Time = time
                  Model = VelocityConfig.defaults kind width layers; Iterations = iters; BatchSize = batch
                  LearningRate = lr; EmaDecay = ema; Schedule = (if warm > 0 then WarmupCosine warm else Constant) }
let gen = Scope.Rng.create 7L
let targets = torch.randn([| 4096L; int64 p |], generator = gen) + 1.0
let sw = Diagnostics.Stopwatch.StartNew()
let cpu0 = Diagnostics.Process.GetCurrentProcess().TotalProcessorTime
let r = Training.train c layout targets None (fun s -> if s.Step % 50 = 0 then eprintfn "step %d loss %.4f it/s %.2f" s.Step s.Loss s.IterationsPerSecond) CancellationToken.None
let ls = r.Losses
let avg a b = ls[a..b] |> Array.average
let cpu = (Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds
// The exact predictor's loss, E_t[1 - t²/v_t], is 0.7146 under Beta(1, 2) and 0.5000 under U(0, 1); predicting the
// mean 1 everywhere costs 1.0.
printfn "model %A w%d l%d iters %d batch %d lr %g time %s: %.1f s wall, %.1f s CPU; loss first50 %.4f last50 %.4f" kind width layers iters batch lr (TimeDistribution.text time) sw.Elapsed.TotalSeconds cpu (avg 0 49) (avg (ls.Length-50) (ls.Length-1))
// field diagnostics against the analytic x1-prediction E[x1|x_t] = 1 + t/v_t (x_t - t), v_t = (1-t)^2 + t^2
let groups = [ "W1", 0, 480; "W2", 480, 256; "W3", 736, 32; "b", 768, 34 ]
let _noGrad = torch.no_grad ()
for t in [ 0.05; 0.2; 0.4; 0.6; 0.8; 0.95 ] do
    let n = 256L
    let x0 = torch.randn([| n; int64 p |], generator = gen)
    let x1 = torch.randn([| n; int64 p |], generator = gen) + 1.0
    let xt = x0 * (1.0 - t) + x1 * t
    let tt = torch.full([| n |], scalar t)
    let pred = Flow.predict r.Flow tt xt
    let v = (1.0 - t) ** 2.0 + t * t
    let opt = (xt - t) * (t / v) + 1.0
    let parts =
        [ for name, o, k in groups ->
            let pr = pred.narrow(1L, int64 o, int64 k)
            let op = opt.narrow(1L, int64 o, int64 k)
            let xs = xt.narrow(1L, int64 o, int64 k) - t
            let bias = (pr - op).mean().ToDouble()
            let rmse = (pr - op).square().mean().sqrt().ToDouble()
            let slope = ((pr - pr.mean()) * xs).sum().ToDouble() / (xs * xs).sum().ToDouble()
            sprintf "%s bias %+.3f rmse %.3f slope %.3f" name bias rmse slope ]
    printfn "t=%.2f a(t)=%.3f | %s" t (t / v) (String.concat " | " parts)
for mode in Reproduce.gaussiansModes 100 do
    let s = Sampling.sample { SamplingConfig.defaults 128 with Noise = mode.Noise; Seed = 3L } ignore torch.CPU r.Flow
    let x = s.Theta.to_type(torch.float64)
    let m = x.mean([| 0L |])
    let sd = x.std(0L, true, false)
    let grp (name, o, k) = sprintf "%s m %.3f s %.3f" name (m.narrow(0L, int64 o, int64 k).mean().ToDouble()) (sd.narrow(0L, int64 o, int64 k).mean().ToDouble())
    printfn "%s: mean %.3f maxdev %.3f std %.3f | %s" mode.Name (m.mean().ToDouble()) ((m - 1.0).abs().max().ToDouble()) (sd.mean().ToDouble()) (groups |> List.map grp |> String.concat " | ")
