/// The targets a flow trains on: a zoo's checkpoints minus held-out runs (`Holdout`), which evaluation compares
/// samples with (networks of runs the flow never saw; issue 11 "Done when").
namespace WeightFlow

/// The held-out runs a flow was trained without, recorded in its checkpoint's header so that evaluation judges the
/// samples against exactly those runs (the split itself is `Holdout`).
[<RequireQualifiedAccess>]
module Targets =
    /// Header entries: the held-out run ids (comma-separated).
    let metadata (t: Holdout.Holdout) : (string * string) list =
        [ "heldout_runs", (t.HeldOutRuns |> Array.map string |> String.concat ",") ]

    /// The held-out run ids recorded by `metadata` (empty if none).
    let heldOutRuns (get: string -> string option) : int[] =
        match get "heldout_runs" with
        | Some s when s <> "" -> s.Split(',') |> Array.map int
        | _ -> [||]
