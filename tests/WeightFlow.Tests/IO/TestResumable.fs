module WeightFlow.Tests.TestResumable

open System.IO
open Expecto
open TorchSharp
open WeightFlow

let private file identity =
    { Resumable.StateFile.Path = Path.Combine(Path.GetTempPath(), $"wf-resumable-{System.Guid.NewGuid():N}.safetensors")
      Resumable.StateFile.Description = "test state"
      Resumable.StateFile.Identity = identity }

[<Tests>]
let tests =
    testList "Resumable" [
        test "a saved state loads back with its progress, tensors and generator state" {
            let f = file [ "weightflow.kind", "test"; "seed", "3" ]
            try
                Expect.isNone (Resumable.tryLoad f) "no file yet: nothing to resume"
                use g = Scope.Rng.create 7L
                torch.rand([| 5L |], generator = g) |> ignore
                let state = Resumable.generatorState g
                use next = torch.rand([| 5L |], generator = g)
                Resumable.save f [ "step", "12" ] [ "x", torch.arange(4L, dtype = torch.float32); "rng", state ]
                match Resumable.tryLoad f with
                | None -> failtest "the state was not found"
                | Some s ->
                    Expect.equal (Resumable.meta s "step") "12" "progress entry"
                    Expect.bitExact (Resumable.tensor s "x") (torch.arange(4L, dtype = torch.float32)) "tensor"
                    use g2 = Scope.Rng.create 0L
                    Resumable.restoreGenerator g2 (Resumable.tensor s "rng")
                    Expect.bitExact (torch.rand([| 5L |], generator = g2)) next "the restored generator continues the same stream"
                    Resumable.dispose s
                Resumable.delete f
                Expect.isFalse (File.Exists f.Path) "deleted"
            finally if File.Exists f.Path then File.Delete f.Path
        }

        test "a state file of another run is refused, naming the entry that differs" {
            let f = file [ "weightflow.kind", "test"; "seed", "3" ]
            try
                Resumable.save f [] [ "x", torch.zeros(1L) ]
                let e = Expect.throwsC (fun () -> Resumable.tryLoad { f with Identity = [ "weightflow.kind", "test"; "seed", "4" ] } |> ignore) id
                Expect.stringContains e.Message "seed = '3'" "names the entry and the file's value"
                Expect.stringContains e.Message "Delete it" "says how to fix it"
            finally if File.Exists f.Path then File.Delete f.Path
        }
    
        test "a damaged state file is the run's own: its error says to delete it, not to regenerate it" {
            let f = file [ "weightflow.kind", "test"; "seed", "3" ]
            try
                Resumable.save f [] [ "x", torch.zeros(64L) ]
                let bytes = File.ReadAllBytes f.Path
                File.WriteAllBytes(f.Path, bytes[.. bytes.Length - 9])
                let e = Expect.throwsC (fun () -> Resumable.tryLoad f |> ignore) id
                Expect.stringContains e.Message "It is this run's saved test state, truncated or corrupt: delete it to start the run afresh." "the state file's own fix, with its description"
                Expect.isFalse (e.Message.Contains "regenerate") "not the advice for a file the user made"
                match e with
                | Check.WeightFlowError(Check.ErrorKind.Corrupt, _) -> ()
                | _ -> failtest $"expected a Corrupt WeightFlowError, got {e.GetType().Name}"
            finally if File.Exists f.Path then File.Delete f.Path
        }
    ]
