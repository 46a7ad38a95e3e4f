/// Loss barriers along linear paths between networks (thesis §4.2, §7.1 Fig. 7.2; anchors §9 `get_pairwise_mid_loss`,
/// `get_interpolation_losses`).
///
/// For a pair (θ_a, θ_b) and a loss L, the path θ(t) = (1 − t) θ_a + t θ_b is evaluated at k equally spaced points
/// t_i = i / (k − 1) (k odd, so that t = ½ is one of them). Reported per pair:
///     midpoint  = L(θ(½))                                   (B.1, the anchor's default, "absolute")
///     relative  = L(θ(½)) − (L(θ_a) + L(θ_b)) / 2          (B.2, the anchor's `relative=True`)
///     maximum   = max_i [L(θ(t_i)) − ((1 − t_i) L(θ_a) + t_i L(θ_b))]   (B.3, Entezari et al. 2022's barrier)
/// All pairs and all k points are evaluated as one population of k·B networks (chunked to bound memory).
[<RequireQualifiedAccess>]
module WeightFlow.Barrier

open TorchSharp

/// Barriers of B pairs.
[<NoEquality; NoComparison>]
type Barriers =
    { /// t_i: [k]
      Times: Tensor
      /// L(θ(t_i)) of each pair: [B, k]
      Losses: Tensor
      /// (B.1): [B]
      Midpoint: Tensor
      /// (B.2): [B]
      Relative: Tensor
      /// (B.3): [B]
      Maximum: Tensor }

/// The k points of the linear paths between θ_a [B, P] and θ_b [B, P], as one population [k·B, P] ordered point-major
/// (row i·B + j is pair j at t_i).
let interpolate (points: int) (a: Tensor) (b: Tensor) : Tensor =
    let t = torch.linspace(0.0, 1.0, int64 points, dtype = a.dtype, device = a.device).view(-1L, 1L, 1L)
    let ab = a.unsqueeze(0L)
    (ab + (b.unsqueeze(0L) - ab) * t).reshape(-1L, a.shape[1])

/// Barriers (B.1)-(B.3) of B pairs under a population loss `loss : θ [n, P] -> [n]` (e.g. `Mlp.crossEntropy layout
/// θ x y`), evaluated on at most `chunk` networks at a time. a, b: [B, P]; points: odd, >= 3.
let compute (points: int) (chunk: int) (loss: Tensor -> Tensor) (a: Tensor) (b: Tensor) : Barriers =
    if points < 3 || points % 2 = 0 then
        invalidArg "points" $"A barrier needs an odd number of points >= 3 (the endpoints and the midpoint t = 1/2 among them); got {points}."
    Check.arg "chunk" (chunk >= 1) $"The chunk size must be positive; got {chunk}."
    if a.shape <> b.shape || a.dim() <> 2L then
        invalidArg "b" $"Both ends of the paths must be populations of equal shape [B, P]; got %A{a.shape} and %A{b.shape}."
    use _ = torch.no_grad ()
    let n = a.shape[0]
    let population = interpolate points a b
    let total = population.shape[0]
    let losses =
        [| for start in 0L .. int64 chunk .. total - 1L ->
            let len = min (int64 chunk) (total - start)
            Scope.run (fun () -> loss (population.narrow(0L, start, len))) |]
    let losses = torch.cat(losses, 0L).view(int64 points, n).t().contiguous()
    population.Dispose()
    let times = torch.linspace(0.0, 1.0, int64 points, dtype = losses.dtype, device = losses.device)
    let la = losses.select(1L, 0L).unsqueeze(1L)
    let lb = losses.select(1L, int64 points - 1L).unsqueeze(1L)
    let mid = losses.select(1L, int64 (points / 2)).clone()
    let linear = la * (1.0 - times).unsqueeze(0L) + lb * times.unsqueeze(0L)
    { Times = times
      Losses = losses
      Midpoint = mid
      Relative = mid - (la + lb).squeeze(1L) * 0.5
      Maximum = (losses - linear).amax([| 1L |]) }

/// Cross-entropy barriers of B pairs of networks of a layout on (x [N, d], y [N]).
let crossEntropy (layout: Layout) (points: int) (x: Tensor) (y: Tensor) (a: Tensor) (b: Tensor) : Barriers =
    // Chunk so that one forward's activations (inputs broadcast per network included) stay near 64M floats.
    let widest = Array.max layout.Widths
    let chunk = max 1 (int (64_000_000L / (max 1L x.shape[0] * int64 widest)))
    compute points chunk (fun theta -> Mlp.crossEntropy layout theta x y) a b

/// `pairs` random pairs (i, j) of distinct members of a population of n (i uniform, j uniform over the other n − 1),
/// drawn from a torch generator seeded with `seed`, as two index arrays.
let randomPairs (seed: int64) (n: int) (pairs: int) : int[] * int[] =
    if n < 2 then invalidArg "n" $"A barrier needs at least two networks; the population has {n}."
    Check.arg "pairs" (pairs >= 1) $"The number of pairs must be at least 1; got {pairs}."
    use g = Scope.Rng.create seed
    use i = torch.randint(int64 n, [| int64 pairs |], generator = g)
    use k = torch.randint(int64 (n - 1), [| int64 pairs |], generator = g)
    // j = k, skipping i: uniform over the n − 1 others
    use j = k + k.ge(i).to_type(torch.int64)
    i.data<int64>().ToArray() |> Array.map int, j.data<int64>().ToArray() |> Array.map int

/// Cross-entropy barriers between `pairs` random pairs of a zoo's checkpoints (`randomPairs` with `seed`), on the
/// training split of the zoo's task: the split whose absolute midpoint loss reproduces the thesis' Fig. 7.2 scale on
/// UCI. The task's data is loaded with the zoo's own seed, so the split is the one the zoo was trained on.
let ofZoo (pairs: int) (points: int) (seed: int64) (zoo: Zoo) : Barriers =
    let data = Sources.load zoo.Task zoo.Config.Seed
    let ia, ib = randomPairs seed (Zoo.count zoo) pairs
    use a = zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device ia)
    use b = zoo.Theta.index_select(0L, T.ofIndex zoo.Theta.device ib)
    crossEntropy zoo.Layout points data.Train.X data.Train.Y a b

/// Mean and (sample, `Stats`) standard deviation over the pairs of each barrier, and of the endpoints' mean loss.
type Summary =
    { Midpoint: float * float
      Endpoints: float * float
      Relative: float * float
      Maximum: float * float }

/// Summarises B pairs' barriers.
let summarize (b: Barriers) : Summary =
    let points = b.Losses.shape[1]
    use ends = (b.Losses.select(1L, 0L) + b.Losses.select(1L, points - 1L)) * 0.5
    { Midpoint = Stats.meanStdOf b.Midpoint; Endpoints = Stats.meanStdOf ends
      Relative = Stats.meanStdOf b.Relative; Maximum = Stats.meanStdOf b.Maximum }
