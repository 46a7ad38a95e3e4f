// docs/mnist/prior2.md: re-runs only the estimator of scripts/prior2-run.fsx (Prior.leaveRunsOutResidual on the
// training runs, 5 folds by run mod 5) with the library as committed, and prints the same statistics. The run of
// prior2-run.fsx used the span basis by QR of the fold factor; the committed code takes it by SVD with a rank cut
// (the same span when every singular value is non-negligible, as for rank 512 of 4,536 MNIST rows).
//
//   OUT=results/heldout WEIGHTFLOW_THREADS=1 dotnet fsi scripts/prior2-estimator.fsx
#load "_load.fsx"
open _load
open System.Threading
open TorchSharp
open WeightFlow

torch.set_num_threads (int (env "WEIGHTFLOW_THREADS" "1"))
let c = (ReproduceMnist.config Full 0L (env "OUT" "results/heldout")).Job
let zoo, _, zr = MainJob.trainZoo c ignore CancellationToken.None
let aligned, _, ar = MainJob.alignZoo c zoo ignore
let flowN, _, _, nr = MainJob.trainFlow c zoo aligned c.Flows.Head ignore CancellationToken.None
if not (zr && ar && nr) then failwith "run scripts/heldout-train.fsx first"
let h = Holdout.lastRuns c.HeldOutRuns aligned
let settings = match c.Flows.Head.Training.Prior.Centre with FitFullToTargets f -> f | _ -> failwith "N's prior is not FitFullToTargets"
let g = match flowN.Prior.Centre with Fitted ({ Covariance = Some _ } as g) -> g | _ -> failwith "N's flow has no full-covariance prior"
let fold = h.TrainIndex |> Array.map (fun i -> aligned.Run[i] % 5)
let vbar = Prior.leaveRunsOutResidual settings aligned.Layout h.Train fold
let gP = Prior.withResidualFloor (vbar.sqrt()) g
let d2, v2 = g.Covariance.Value.Residual.to_type(torch.float64).pow(scalar 2.0), vbar.to_type(torch.float64)
let s2 = g.Std.to_type(torch.float64).pow(scalar 2.0)
let meanOf (t: Tensor) = t.mean().ToDouble()
printfn "mean d^2 %g; mean vbar %g; mean d^2/Std^2 %g; mean vbar/Std^2 %g; raised %g; mean Std'^2/Std^2 %g"
    (meanOf d2) (meanOf v2) (meanOf (d2 / s2)) (meanOf (v2 / s2)) (meanOf (v2.gt(d2).to_type(torch.float64))) (meanOf (gP.Std.to_type(torch.float64).pow(scalar 2.0) / s2))
