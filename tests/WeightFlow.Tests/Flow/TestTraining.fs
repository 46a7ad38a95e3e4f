module WeightFlow.Tests.TestTraining

open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow

let private layout = Layout.parse "3-4-3-2"

let private targets () =
    use gen = Scope.Rng.create 9L
    let baseNet = torch.randn([| 1L; int64 (Layout.paramCount layout) |], generator = gen) * 0.5
    baseNet + torch.randn([| 40L; int64 (Layout.paramCount layout) |], generator = gen) * 0.05

let private small (kind: VelocityKind) (flow: FlowKind) (coupling: Coupling) =
    { TrainingConfig.cpu flow kind with
        Model = (match kind with VelocityKind.Mlp -> VelocityConfig.defaults kind 32 2 | _ -> VelocityConfig.defaults kind 8 2)
        Iterations = 12; BatchSize = 4; CheckpointEvery = 5; Schedule = WarmupCosine 3; Coupling = coupling }

let private tempFile = TempFiles.safetensors

[<Tests>]
let tests =
    testList "Training" [
        test "every kind of model trains every flow through the same loop (finite losses, a flow that predicts)" {
            let x = targets ()
            for kind in [ VelocityKind.Rt; VelocityKind.Pna; VelocityKind.Mlp ] do
                for flow in [ FlowKind.Euclidean; FlowKind.Normalized; FlowKind.Geometric ] do
                    let r = Training.train { small kind flow Independent with Iterations = 3 } layout x None ignore CancellationToken.None
                    Expect.equal r.Outcome Completed "completed"
                    Expect.equal r.Losses.Length 3 "one loss per step"
                    Expect.all r.Losses System.Double.IsFinite $"{kind} {flow} finite losses"
                    use gen = Scope.Rng.create 0L
                    let x0 = Flow.samplePrior r.Flow gen torch.CPU 2
                    let xhat = Scope.noGrad (fun () -> Flow.predict r.Flow (torch.full([| 2L |], scalar 0.5)) x0)
                    Expect.equal (T.shape xhat) [| 2; Layout.paramCount layout |] "prediction shape"
        }

        test "PriorTemperature draws the training x0 about the prior's centre: τ 0.5 on N(0, 0.1²) trains as N(0, 0.05²); > 0 checked; keyed only when ≠ 1" {
            let x = targets ()
            // plain preconditioning: the Euclidean preconditioner reads the prior's std, which differs between the two runs
            let c = { small VelocityKind.Mlp FlowKind.Euclidean Independent with Iterations = 3; Preconditioning = PreconditioningKind.Plain; Prior = { Std = 0.1; Centre = Origin } }
            let losses (c: TrainingConfig) = (Training.train c layout x None ignore CancellationToken.None).Losses
            let tempered = losses { c with PriorTemperature = 0.5 }
            // 0.1 · 0.5 and 0.05 are the same double, and the raw draw is eps · std in both: equal to the last bit
            Expect.sequenceEqual tempered (losses { c with Prior = { Std = 0.05; Centre = Origin } }) "x0 = 0 + 0.5 · (x0 − 0)"
            Expect.notEqual tempered (losses c) "the temperature changes the training draws"
            for bad in [ 0.0; -0.5; nan; infinity ] do
                Expect.throwsC (fun () -> TrainingConfig.validate { c with PriorTemperature = bad }) (fun e ->
                    Expect.isTrue (e :? System.ArgumentException) $"{bad}: an argument error"
                    Expect.stringContains e.Message "PriorTemperature" $"{bad}: the error names the setting")
            Expect.isFalse (TrainingConfig.toMetadata c |> List.exists (fun (k, _) -> k = "train.prior_temperature")) "τ 1 leaves every existing key unchanged"
            Expect.contains (TrainingConfig.toMetadata { c with PriorTemperature = 0.6 }) ("train.prior_temperature", "0.6") "a tempered run has a key of its own"
        }

        test "resuming from a checkpoint reproduces the uninterrupted run's losses exactly" {
            let x = targets ()
            for kind, flow, coupling in [ VelocityKind.Rt, FlowKind.Geometric, SymmetryAwareOt; VelocityKind.Mlp, FlowKind.Euclidean, MinibatchOt ] do
                let c = small kind flow coupling
                let whole = Training.train c layout x None ignore CancellationToken.None
                Interrupted.trainResumed "resume" 7 c layout x (fun first rest _ ->
                    Expect.equal first.Outcome (Cancelled 7) "cancelled after step 7, checkpoint saved"
                    Expect.equal rest.Outcome Completed "resumed run completes"
                    Expect.sequenceEqual rest.Losses whole.Losses $"{kind} {flow} {coupling}: identical loss sequence"
                    // and the EMA weights agree bit for bit
                    for (_, a), (_, b) in List.zip rest.Flow.Model.Parameters whole.Flow.Model.Parameters do
                        Expect.bitExact a b "EMA parameter")
        }

        test "a checkpoint of another run is refused with the setting that differs" {
            let x = targets ()
            let c = small VelocityKind.Mlp FlowKind.Euclidean Independent
            let path = tempFile "other"
            try
                Training.train { c with Iterations = 5 } layout x (Some path) ignore CancellationToken.None |> ignore
                let e = Expect.throwsC (fun () -> Training.train { c with Iterations = 5; LearningRate = 0.5 } layout x (Some path) ignore CancellationToken.None |> ignore) id
                Expect.stringContains e.Message "train.lr" "names the differing setting"
            finally if File.Exists path then File.Delete path
        }

        test "a non-finite loss stops at its step without updating, keeping no bad checkpoint" {
            let x = targets ()
            x.narrow(0L, 0L, 40L).fill_(scalar nan) |> ignore
            let path = tempFile "nan"
            try
                let r = Training.train (small VelocityKind.Mlp FlowKind.Euclidean Independent) layout x (Some path) ignore CancellationToken.None
                Expect.equal r.Outcome (Diverged 1) "stopped at step 1"
                Expect.isFalse (File.Exists path) "no checkpoint written"
            finally if File.Exists path then File.Delete path
        }

        test "memory stays flat over 200 training steps (live tensors of this thread)" {
            // TorchSharp's DisposeScopeManager counts the tensors alive on the calling thread; a leak of even one
            // tensor per step would show as +190 between step 10 and step 200.
            let x = targets ()
            let c = { small VelocityKind.Rt FlowKind.Geometric SymmetryAware with Iterations = 200; CheckpointEvery = 1000 }
            let live = System.Collections.Generic.Dictionary<int, int64>()
            let count () = DisposeScopeManager.Statistics.ThreadTotalLiveCount
            Training.train c layout x None (fun p -> if p.Step = 10 || p.Step = 200 then live[p.Step] <- count ()) CancellationToken.None |> ignore
            Expect.isGreaterThan live[10] 0L "the count sees the live tensors (parameters, optimizer state, targets)"
            Expect.equal live[200] live[10] "live tensors at step 200 = at step 10"
        }
    ]
