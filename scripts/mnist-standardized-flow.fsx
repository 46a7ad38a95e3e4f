// Turns a flow trained by scripts/mnist-flow-curve.fsx with STANDARDIZE=1 (the Euclidean flow from N(0, I) on the
// standardized targets z = (θ − μ)/s, the script's μ and s of the training runs) into the same flow on raw weights:
// the standardized fitted prior of Prior.fs (x0 = μ + s·ε, the model reads (x_t − μ)/s and writes ẑ1, x̂1 = μ + s·ẑ1).
// The Euclidean path and Euler steps are affine-equivariant, so both sample the same networks (up to float rounding);
// the file then works with every command that takes a flow (`sample` with guidance or a temperature, `eval`, wider
// layouts through the tiled fit).
//
//   ZOO=/tmp/mnist-exp/zoo-aligned.safetensors CKPT=/tmp/mnist-exp/p1.checkpoint OUT=/tmp/mnist-exp/p1.flow [HOLD=5] \
//     dotnet fsi scripts/mnist-standardized-flow.fsx
#load "_load.fsx"
open _load
open System
open TorchSharp
open WeightFlow

let zoo = Zoo.load (env "ZOO" "/tmp/mnist-exp/zoo-aligned.safetensors")
let split = Holdout.lastRuns (int (env "HOLD" "5")) zoo
let flow = Flow.load torch.CPU (env "CKPT" "/tmp/mnist-exp/p1.checkpoint")
if flow.Space.Kind <> Euclidean || flow.Prior.Centre <> Origin || flow.Prior.Std <> 1.0 then
    failwith "CKPT must be a Euclidean flow from N(0, I) (mnist-flow-curve.fsx with STANDARDIZE=1 PRIOR_STD=1)"
// the script's statistics, exactly as it computed them (float32, population std floored at 1e-6)
let mu, sd =
    Scope.noGrad (fun () ->
        let m = split.Train.mean([| 0L |], false)
        let s = split.Train.std(0L, false, false).clamp_min(Scalar.op_Implicit 1e-6)
        m.DetachFromDisposeScope(), s.DetachFromDisposeScope())
let fit = Fitted { Layout = zoo.Layout; Mean = mu; Std = sd; Standardized = true; Covariance = None }
let out = env "OUT" "/tmp/mnist-exp/p1.flow"
Flow.save out { flow with Prior = { Std = 1.0; Centre = fit } }
printfn "wrote %s (%s, standardized fitted prior on %d training checkpoints)" out (string zoo.Layout) split.Train.shape[0]
