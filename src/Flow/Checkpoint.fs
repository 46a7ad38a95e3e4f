/// A flow-training checkpoint (issue 11 item 6): everything a resumed run needs to continue exactly where it
/// stopped — the model's parameters ("model."), the EMA ("ema."), Adam's moments and step, the generator's state and
/// every loss so far — in one Resumable state file. The header also describes the flow (Flow.toMetadata), so
/// `Flow.load` reads a checkpoint like a finished flow file.
[<RequireQualifiedAccess>]
module WeightFlow.Checkpoint

open TorchSharp

/// The file's kind entry.
[<Literal>]
let Kind = "flow-checkpoint"

/// Writes the state atomically. `losses` holds every step's loss, most recent first.
let save (file: Resumable.StateFile) (flow: Flow) (model: VelocityModel) (ema: Ema) (opt: Optim.Parameters)
         (gen: torch.Generator) (losses: float list) =
    Scope.value (fun () ->
        let progress =
            [ "step", string losses.Length; "optimizer_step", string opt.State.Step; "ema_updates", string ema.Updates ]
            @ Flow.toMetadata flow
        let lossTensor = if losses.IsEmpty then torch.zeros(0L, dtype = torch.float64) else torch.tensor(Array.ofList (List.rev losses))
        Resumable.save file progress
            ([ for n, p in model.Parameters -> "model." + n, p :> Tensor ]
             @ [ for n, p in ema.Model.Parameters -> "ema." + n, p :> Tensor ]
             @ [ "opt.first", opt.State.First.cpu(); "opt.second", opt.State.Second.cpu()
                 "rng", Resumable.generatorState gen; "losses", lossTensor ]
             @ Flow.priorTensors flow))

/// Restores a checkpoint (if the file exists and belongs to this run, see Resumable.tryLoad) into the model, EMA,
/// optimizer and generator; returns the losses so far (most recent first), or [] when there is no file.
let restore (file: Resumable.StateFile) (model: VelocityModel) (ema: Ema) (opt: Optim.Parameters) (gen: torch.Generator) : float list =
    match Resumable.tryLoad file with
    | None -> []
    | Some s ->
        // settings that differ from their default add a "train." entry (TrainingConfig.toMetadata: prior centre,
        // preconditioning) and tryLoad checks only the entries this run has: a run with the default must also refuse
        // a checkpoint that has the entry
        let identity = set (List.map fst file.Identity)
        for KeyValue (key, v) in s.Stored.Metadata do
            if key.StartsWith "train." && not (identity.Contains key) then
                Resumable.dispose s
                Check.fail Check.ErrorKind.Mismatch $"{file.Path} is the saved state of another run ({key} = '{v}', this run has the default). Delete it to start afresh, or rerun with the settings it was made with."
        VelocityModel.copyFrom file.Path "model." s.Stored.Tensors model.Parameters
        VelocityModel.copyFrom file.Path "ema." s.Stored.Tensors ema.Model.Parameters
        (use _ = torch.no_grad ()
         opt.State.First.copy_(Resumable.tensor s "opt.first") |> ignore
         opt.State.Second.copy_(Resumable.tensor s "opt.second") |> ignore)
        opt.State.Step <- int (Resumable.meta s "optimizer_step")
        ema.Updates <- int (Resumable.meta s "ema_updates")
        Resumable.restoreGenerator gen (Resumable.tensor s "rng")
        let losses = (Resumable.tensor s "losses").data<float>().ToArray() |> Array.rev |> List.ofArray
        Resumable.dispose s
        losses
