/// The targets a flow trains on: a zoo's checkpoints minus held-out runs, which evaluation compares samples with
/// (networks of runs the flow never saw; issue 11 "Done when").
namespace WeightFlow

open TorchSharp

[<NoEquality; NoComparison>]
type Targets =
    { /// The training checkpoints [N_train, P] (raw zoo weights).
      Train: Tensor
      /// The held-out checkpoints [N_held, P].
      HeldOut: Tensor
      TrainRuns: int[]
      HeldOutRuns: int[] }

[<RequireQualifiedAccess>]
module Targets =
    /// Holds out the `k` runs with the largest ids (every checkpoint of them).
    let holdOutLastRuns (k: int) (zoo: Zoo) : Targets =
        let runs = zoo.Run |> Array.distinct |> Array.sort
        Check.arg "k" (k >= 0 && k < runs.Length) $"Cannot hold out {k} of the zoo's {runs.Length} runs; at least one run must remain for training."
        let held = runs[runs.Length - k ..] |> Set.ofArray
        let pick keep = [| for i in 0 .. zoo.Run.Length - 1 do if keep (held.Contains zoo.Run[i]) then yield int64 i |]
        let rows (idx: int64[]) =
            if idx.Length = 0 then torch.zeros([| 0L; zoo.Theta.shape[1] |], dtype = zoo.Theta.dtype)
            else (use i = torch.tensor(idx) in zoo.Theta.index_select(0L, i))
        { Train = rows (pick not); HeldOut = rows (pick id)
          TrainRuns = runs[.. runs.Length - k - 1]; HeldOutRuns = runs[runs.Length - k ..] }

    /// Header entries: the held-out run ids (comma-separated).
    let metadata (t: Targets) : (string * string) list =
        [ "heldout_runs", (t.HeldOutRuns |> Array.map string |> String.concat ",") ]

    /// The held-out run ids recorded by `metadata` (empty if none).
    let heldOutRuns (get: string -> string option) : int[] =
        match get "heldout_runs" with
        | Some s when s <> "" -> s.Split(',') |> Array.map int
        | _ -> [||]
