/// Novelty: are generated networks new, or copies of training checkpoints? (evaluation-findings.md: on MNIST a plain
/// MLP velocity model reached zoo accuracy by copying.)
///
/// Each network θ is first re-aligned to the zoo's reference θ_ref by weight matching (`Rebasin.weightMatching`):
/// an equivariant flow started from a permutation-invariant prior samples arbitrary hidden-neuron orders, and a
/// permuted copy of a training checkpoint is still a copy. Then
///     d(θ) = min_m ‖π(θ) − π(θ_m)‖₂   over the training checkpoints θ_m, re-aligned the same way,                 (N.1)
///     novelty ratio = median_samples d / median_heldout d,                                                        (N.2)
/// where the held-out checkpoints come from runs the generator never saw (re-aligned the same way). A generator that
/// makes networks as different from the training runs as a new training run has a ratio ~1; one that copies, ~0.
/// The training checkpoints are re-aligned too, once, even when they come from an aligned zoo: a zoo aligned in raw
/// space and then canonicalized is not a fixed point of weight matching in canonical space (measured on UCI: permuted
/// canonical copies of training checkpoints scored a ratio of 0.67 against the raw-aligned training set, 0.0 after
/// re-aligning it), and only π(θ_m) makes a permuted copy of θ_m land on its original.
/// Distances are Euclidean in whatever space the networks are given in (raw, or canonicalized for the Normalized and
/// Geometric flows: pass the training and held-out checkpoints in the same space), computed in float64.
[<RequireQualifiedAccess>]
module WeightFlow.Novelty

open TorchSharp

/// Networks re-aligned at a time by `realign`: weight matching of 512 MNIST 784-10-10 networks peaks at ~0.12 GB,
/// where all 5,670 training checkpoints of the full preset in one batch peaked at +2.5 GB (docs/results/memory-mnist.md).
let realignRows = 512

/// `realign` in chunks of `rows` networks. Weight matching is independent per network (one assignment per network and
/// hidden layer; each chunk's layer-order generator restarts from the same seed, so every sweep draws the same order as
/// in one batch), so the result is bit for bit that of one batch. When every network's permutation is the identity
/// (checkpoints already aligned to this reference by the same matching), the input comes back as it is (an alias: no
/// copy); else the permuted chunks fill one [B, P] output.
let realignChunked (rows: int) (config: Rebasin.WeightMatchingConfig) (layout: Layout) (reference: Tensor) (theta: Tensor) : Tensor =
    Check.arg "rows" (rows >= 1) $"Re-alignment needs at least one network per chunk; got {rows}."
    use _ = torch.no_grad ()
    let b = theta.shape[0]
    let starts = [| 0L .. int64 rows .. b - 1L |]
    let chunk (start: int64) = theta.narrow(0L, start, min (int64 rows) (b - start))
    let perms =
        starts |> Array.map (fun start ->
            // each chunk's matching temporaries go with its scope; only its permutations ([rows, h] int64) leave it
            use _ = Scope.enter ()
            let p = Rebasin.weightMatching config layout reference (chunk start)
            { p with Perms = p.Perms |> List.map (fun t -> t.MoveToOuterDisposeScope()) } : Symmetry.Permutation)
    let isIdentity (p: Symmetry.Permutation) =
        p.Perms |> List.forall (fun t -> Scope.value (fun () -> t.eq(torch.arange(t.shape[1], dtype = t.dtype, device = t.device).unsqueeze(0L)).all().ToBoolean()))
    if perms |> Array.forall isIdentity then theta.alias()
    elif starts.Length = 1 then Symmetry.permute layout perms[0] theta
    else
        let out = torch.empty_like(theta)
        for start, p in Array.zip starts perms do
            use _ = Scope.enter ()
            let rows = chunk start
            out.narrow(0L, start, rows.shape[0]).copy_(Symmetry.permute layout p rows) |> ignore
        out

/// Re-aligns networks theta [B, P] to the reference [1, P] by weight matching (permutations only: the function of each
/// network is unchanged), `realignRows` networks at a time (`realignChunked`).
let realign (config: Rebasin.WeightMatchingConfig) (layout: Layout) (reference: Tensor) (theta: Tensor) : Tensor =
    realignChunked realignRows config layout reference theta

/// (N.1) without the re-alignment: the distance from each row of theta [B, P] to its nearest row of training [M, P]:
/// [B] float64. Chunked over the training rows (1,024 at a time), each chunk's float64 copies freed before the next.
let nearestDistance (training: Tensor) (theta: Tensor) : Tensor =
    if training.dim() <> 2L || theta.dim() <> 2L || training.shape[1] <> theta.shape[1] then
        invalidArg "theta" $"Nearest-neighbour distances need two sets of flat weights of one layout; got %A{theta.shape} and training %A{training.shape}."
    Check.arg "training" (training.shape[0] > 0L) "Novelty needs at least one training checkpoint."
    use _ = torch.no_grad ()
    Scope.run (fun () ->
        let x = theta.to_type(torch.float64)
        let xx = x.square().sum([| 1L |], keepdim = true)
        let m = training.shape[0]
        let chunk = 1024L
        let best =
            [| for start in 0L .. chunk .. m - 1L ->
                Scope.run (fun () ->
                    let t = training.narrow(0L, start, min chunk (m - start)).to_type(torch.float64)
                    // ‖x − t‖² = ‖x‖² + ‖t‖² − 2 x·t, clamped at 0 against rounding.
                    let d2 = (xx + t.square().sum([| 1L |]).unsqueeze(0L) - torch.matmul(x, t.t()) * 2.0).clamp_min(0.0)
                    d2.amin([| 1L |])) |]
        torch.stack(best, 1L).amin([| 1L |]).sqrt())

/// What every novelty ratio is measured against: the reference, the training checkpoints, and the held-out
/// checkpoints' median distance (the denominator of (N.2)).
[<NoEquality; NoComparison>]
type NoveltyReference =
    { Alignment: Rebasin.WeightMatchingConfig
      Layout: Layout
      /// θ_ref: [1, P].
      Reference: Tensor
      /// Training checkpoints re-aligned to θ_ref: [M, P].
      Training: Tensor
      /// d (N.1) of each held-out checkpoint after re-alignment: [H] float64.
      HeldOutDistances: Tensor
      /// median of HeldOutDistances.
      HeldOutMedian: float }

/// Builds the reference of (N.2) from θ_ref [1, P], the training checkpoints [M, P] and the held-out checkpoints
/// [H, P] (both re-aligned here).
let reference (alignment: Rebasin.WeightMatchingConfig) (layout: Layout) (reference: Tensor) (training: Tensor) (heldOut: Tensor) : NoveltyReference =
    Check.arg "heldOut" (heldOut.shape[0] > 0L) "Novelty needs held-out checkpoints (runs the generator never saw); hold out some runs of the zoo (Holdout.split)."
    let training = realign alignment layout reference training
    let d = nearestDistance training (realign alignment layout reference heldOut)
    let median = d.median().ToDouble()
    if not (median > 0.0) then
        Check.dataError $"The held-out checkpoints' median distance to the training checkpoints is {median}: the held-out runs duplicate training runs, so no novelty ratio can be formed. Hold out whole runs that were trained separately."
    { Alignment = alignment; Layout = layout; Reference = reference; Training = training
      HeldOutDistances = d; HeldOutMedian = median }

/// The novelty of B networks.
[<NoEquality; NoComparison>]
type NoveltyResult =
    { /// d (N.1) of each network after re-alignment: [B] float64.
      Distances: Tensor
      /// median of Distances.
      Median: float
      /// (N.2).
      Ratio: float }

/// Re-aligns networks theta [B, P] to the reference and measures (N.1)-(N.2).
let measure (r: NoveltyReference) (theta: Tensor) : NoveltyResult =
    let d = nearestDistance r.Training (realign r.Alignment r.Layout r.Reference theta)
    let median = d.median().ToDouble()
    { Distances = d; Median = median; Ratio = median / r.HeldOutMedian }
