// Diagnoses a flow trained by scripts/mnist-flow-curve.fsx (issue 13, README "MNIST flows"): restores its checkpoint
// (the same settings by environment: CKPT, LR, TIME, ITER; Geometric RT, symmetry-aware, batch 16) and prints, for 16
// training checkpoints and coupled prior samples at fixed t, the test accuracy of x_t and of the one-shot prediction
// x̂1 with the mean |cosine| between hidden neurons (collapse), then the samples' accuracy and |cosine| at 4/8/20 Euler steps.
//   WEIGHTFLOW_THREADS=1 CKPT=/tmp/mnist-exp/e2.checkpoint LR=3e-3 nice -n 5 dotnet fsi scripts/mnist-flow-diagnose.fsx
#load "_load.fsx"
open _load
open System
open System.Threading
open TorchSharp
open WeightFlow
torch.set_num_threads 1
let zoo = Zoo.load (env "ZOO" "/tmp/mnist-exp/zoo-aligned.safetensors")
let split = Holdout.lastRuns 5 zoo
let c0 = TrainingConfig.cpu Geometric VelocityKind.Rt
let config = { c0 with BatchSize = 16; Iterations = int (env "ITER" "1000"); LearningRate = float (env "LR" "1e-3"); Time = TimeDistribution.parse (env "TIME" "beta(1,2)"); CheckpointEvery = 1_000_000 }
use cts = new CancellationTokenSource()
cts.Cancel()
let r = Training.train config zoo.Layout split.Train (Some (env "CKPT" "/tmp/mnist-exp/e1.checkpoint")) ignore cts.Token
printfn "restored %d steps" r.Losses.Length
let data = Sources.load zoo.Task zoo.Config.Seed
let space = r.Flow.Space
let x1all = Scope.noGrad (fun () -> FlowSpace.embed space split.Train)
let acc (theta: Tensor) = (Mlp.accuracy zoo.Layout theta data.Test.X data.Test.Y).to_type(torch.float64).mean().ToDouble()
// hidden-neuron similarity: mean |cos| between distinct hidden neurons' incoming weights
let neuronCos (theta: Tensor) =
    let w = Layout.weightT zoo.Layout 0 theta
    let u = w / w.norm(1, true)
    let g = torch.bmm(u.transpose(1L, 2L), u).abs()   // [B, out, out]
    let n = float g.shape[1]
    ((g.sum([|1L; 2L|]) - n) / (n * (n - 1.0))).mean().ToDouble()
use _ = torch.no_grad ()
use gen = Scope.Rng.create 5L
let idx = torch.randint(x1all.shape[0], [| 16L |], generator = gen)
let x1 = x1all.index_select(0L, idx)
printfn "zoo: acc %.3f neuron|cos| %.3f" (acc x1) (neuronCos x1)
for t in [ 0.0; 0.1; 0.2; 0.3; 0.5; 0.7; 0.9 ] do
    let x0 = Prior.sample r.Flow.Prior space gen torch.CPU 16
    let x0, x1c = Coupling.pair config.Coupling space x0 x1
    let tt = torch.ones([| 16L |], dtype = torch.float32) * t
    let xt = Path.sample space.Path gen x0 x1c tt
    let pred = Flow.predict r.Flow tt xt
    printfn "t %.1f: acc(x_t) %.3f acc(x̂1) %.3f neuron|cos| x̂1 %.3f  loss %.4f" t (acc xt) (acc pred) (neuronCos pred) ((Objective.endpointLoss space pred x1c).mean().ToDouble())
for steps in [ 4; 8; 20 ] do
    let s = Sampling.sample { SamplingConfig.defaults 16 with Steps = steps; Seed = 1L } ignore torch.CPU r.Flow
    printfn "samples %d steps: acc %.3f neuron|cos| %.3f" steps (acc s.Theta) (neuronCos s.Theta)
