/// Holding out whole runs of a zoo: a generator is trained on the checkpoints of the other runs, and the held-out
/// runs are the "new training runs" it is judged against (novelty ratio, fidelity floor, the held-out baseline row).
/// Whole runs, not random checkpoints: checkpoints of one run are strongly correlated, so a held-out checkpoint whose
/// run was seen in training would be a near-copy of a training checkpoint.
[<RequireQualifiedAccess>]
module WeightFlow.Holdout

open TorchSharp

/// A zoo's checkpoints split by run.
[<NoEquality; NoComparison>]
type Holdout =
    { /// Checkpoints of the training runs: [M, P] (rows of the zoo, in zoo order).
      Train: Tensor
      /// Their rows in the zoo.
      TrainIndex: int[]
      /// The training run ids (ascending).
      TrainRuns: int[]
      /// Checkpoints of the held-out runs: [H, P] (H = 0 when nothing is held out).
      HeldOut: Tensor
      HeldOutIndex: int[]
      /// The held-out run ids (ascending).
      HeldOutRuns: int[] }

/// Holds out the given run ids of a zoo (e.g. those a flow recorded as held out, `Targets.heldOutRuns`). Holding out
/// none is allowed (a flow may train on every run); holding out every run is not.
let ofRuns (heldOutRuns: int[]) (zoo: Zoo) : Holdout =
    let runs = zoo.Run |> Array.distinct |> Array.sort
    let held = heldOutRuns |> Array.distinct |> Array.sort
    let unknown = held |> Array.filter (fun r -> not (Array.contains r runs))
    if unknown.Length > 0 then Check.dataError $"Held-out runs %A{unknown} are not in the zoo (runs {runs[0]}..{Array.last runs}); pass the zoo the flow was trained on."
    if held.Length >= runs.Length then
        Check.dataError $"Holding out {held.Length} of the zoo's {runs.Length} runs leaves no training run; keep at least one run for training."
    let heldSet = set held
    let trainIdx, heldIdx = [| 0 .. zoo.Run.Length - 1 |] |> Array.partition (fun i -> not (heldSet.Contains zoo.Run[i]))
    let rows (idx: int[]) =
        if idx.Length = 0 then torch.zeros([| 0L; zoo.Theta.shape[1] |], dtype = zoo.Theta.dtype, device = zoo.Theta.device)
        else zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device idx)
    { Train = rows trainIdx; TrainIndex = trainIdx; TrainRuns = runs |> Array.filter (heldSet.Contains >> not)
      HeldOut = rows heldIdx; HeldOutIndex = heldIdx; HeldOutRuns = held }

/// Holds out the `k` runs with the largest ids (every checkpoint of them); k = 0 holds out nothing.
let lastRuns (k: int) (zoo: Zoo) : Holdout =
    let runs = zoo.Run |> Array.distinct |> Array.sort
    Check.arg "k" (k >= 0 && k < runs.Length) $"Cannot hold out {k} of the zoo's {runs.Length} runs; at least one run must remain for training."
    ofRuns runs[runs.Length - k ..] zoo

/// Holds out the last ⌈fraction · R⌉ run ids of a zoo (at least one run, and at least one run left for training),
/// i.e. `lastRuns` with k = ⌈fraction · R⌉. Default use: `split 0.1 zoo` (10 of UCI's 100 runs).
/// The zoo's reference checkpoint (its first row, run 0) stays in training.
let split (fraction: float) (zoo: Zoo) : Holdout =
    Check.arg "fraction" (fraction > 0.0 && fraction < 1.0) $"The held-out fraction must lie in (0, 1); got {fraction}."
    let runs = zoo.Run |> Array.distinct |> Array.sort
    if runs.Length < 2 then
        Check.dataError $"A zoo with {runs.Length} run(s) cannot hold out whole runs; train a zoo with several runs (--runs)."
    lastRuns (min (runs.Length - 1) (max 1 (int (ceil (fraction * float runs.Length))))) zoo

/// Splits the held-out runs into two disjoint halves by run (alternating run ids): the first judges (the novelty
/// ratio's denominator and the fidelity target), the second is the held-out baseline row, so that the baseline row is
/// measured against runs it does not contain. Returns (judge, baseline) checkpoints; needs two held-out runs.
let halves (zoo: Zoo) (h: Holdout) : Tensor * Tensor =
    if h.HeldOutRuns.Length < 2 then
        Check.dataError $"The held-out set has {h.HeldOutRuns.Length} run(s); the held-out baseline row needs at least two (hold out a larger fraction of the runs)."
    let judgeRuns = h.HeldOutRuns |> Array.indexed |> Array.filter (fun (i, _) -> i % 2 = 0) |> Array.map snd |> set
    let judge, baseline = h.HeldOutIndex |> Array.partition (fun i -> judgeRuns.Contains zoo.Run[i])
    let rows (idx: int[]) = zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device idx)
    rows judge, rows baseline
