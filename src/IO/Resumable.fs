/// Resumable runs (lifted from the zoo's training, reused by flow training): a run's whole state saved atomically
/// to one safetensors file (Storage), found again on the next start, and accepted only if it belongs to the same
/// run. A run is identified by header entries (its kind and every setting that changes its results); the progress
/// so far (epochs, steps) and the tensors are the state. Generators are saved with their full state, so a resumed
/// run draws the same numbers as an uninterrupted one.
[<RequireQualifiedAccess>]
module WeightFlow.Resumable

open System.IO
open TorchSharp

/// Where a run keeps its state and what identifies it.
type StateFile =
    { Path: string
      /// What the file is, for the user who finds it damaged ("training checkpoint (resuming continues from it)").
      Description: string
      /// Header entries that must match for the file to be resumed (kind, settings, data ids).
      Identity: (string * string) list }

/// The state of a run being resumed: the header's progress entries and the tensors (CPU).
[<NoEquality; NoComparison>]
type State =
    { File: StateFile
      Stored: Storage.Stored }

/// Writes identity + progress entries and the tensors atomically (temp file, then rename).
let save (file: StateFile) (progress: (string * string) list) (tensors: (string * Tensor) list) =
    Storage.write file.Path (Map.ofList (file.Identity @ progress)) tensors

/// The saved state if the file exists, after checking that every identity entry matches; a mismatch is one
/// DataError naming the entry, both values and the fix. A damaged file is the run's own (not one the user made and
/// must regenerate): its fix is to delete it, which restarts the run.
let tryLoad (file: StateFile) : State option =
    if not (File.Exists file.Path) then None
    else
        let s = Storage.readOr $"It is this run's saved {file.Description}, truncated or corrupt: delete it to start the run afresh." file.Path
        for key, expected in file.Identity do
            match s.Metadata.TryFind key with
            | Some v when v = expected -> ()
            | found ->
                let v = defaultArg found "(missing)"
                for _, t in s.Tensors do t.Dispose()
                Check.fail Check.ErrorKind.Mismatch $"{file.Path} is the saved state of another run ({key} = '{v}', this run has '{expected}'). Delete it to start afresh, or rerun with the settings it was made with."
        Some { File = file; Stored = s }

/// A progress entry of a loaded state.
let meta (s: State) (key: string) : string = Storage.meta s.File.Path s.Stored key

/// A tensor of a loaded state.
let tensor (s: State) (name: string) : Tensor = Storage.tensor s.File.Path s.Stored name

/// Frees a loaded state's tensors (after they were copied into the run).
let dispose (s: State) = for _, t in s.Stored.Tensors do t.Dispose()

/// Removes the state file (a run that completed).
let delete (file: StateFile) = if File.Exists file.Path then File.Delete file.Path

/// A generator's full state as an int32 tensor (safetensors has no uint8 here) and back.
let generatorState (g: torch.Generator) : Tensor = Scope.run (fun () -> g.get_state().to_type(torch.int32))

let restoreGenerator (g: torch.Generator) (state: Tensor) =
    use bytes = state.to_type(torch.uint8)
    g.set_state(bytes) |> ignore
