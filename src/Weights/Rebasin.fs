/// Re-basin: permuting the hidden neurons of many networks so that each lies close to one reference network θ_ref
/// (thesis §4.3, §4.4 step 1, §6.2.1; anchors §7, P19). Permutations never change a network's function
/// (`Symmetry.permute`); alignment only reduces the multimodality of the zoo and the loss barriers between its members.
///
/// Two methods:
/// * Weight matching (Ainsworth et al. 2023, §3.2): maximize ⟨θ_ref, π(θ)⟩ = Σ_l ⟨W^r_l, P_l W_l P_{l-1}ᵀ⟩ + ⟨b^r_l, P_l b_l⟩
///   over the hidden layers' permutations P_l, equivalently minimize ‖θ_ref − π(θ)‖² (thesis eq. 4.4). With all other
///   layers fixed, the problem in P_j is a linear assignment                                                  (R.1)
///       max_{P_j} ⟨P_j, C_j⟩,  C_j = W^r_j (W_j P_{j-1}ᵀ)ᵀ + b^r_j b_jᵀ + W^r_{j+1}ᵀ (P_{j+1} W_{j+1}),
///   solved exactly (`Assignment`); layers are swept in random order until a sweep improves no network.
/// * Sinkhorn re-basin (Peña et al. 2023; thesis eq. 4.3-4.6): a free matrix X_j ∈ R^{h×h} per hidden layer, relaxed to
///   a doubly stochastic S_j = Sinkhorn(X_j / τ) (thesis eq. 4.3, computed in the log domain), applied as
///   W'_l = S_l W_l S_{l-1}ᵀ, b'_l = S_l b_l, and trained with Adam on one of the objectives                     (R.2)
///       L2:  ‖θ_ref − π(θ)‖² / P                  (eq. 4.4; the anchor code's default)
///       Mid: L((θ_ref + π(θ)) / 2)                (eq. 4.5; L a data loss, e.g. cross-entropy on training minibatches)
///       Rnd: L((1 − λ) θ_ref + λ π(θ)), λ ~ U(0,1) (eq. 4.6; one λ per network and step)
///   The final hard permutation maximizes ⟨P_j, X_j⟩ (the anchor's projection: Hungarian on the raw X_j, anchors §7).
///
/// Everything is batched over the B networks; each network has its own permutations (and, for Sinkhorn, its own X_j
/// and Adam state: Adam is elementwise and the summed loss separates over networks, so one optimizer over [B, h, h]
/// is B independent optimizers).
[<RequireQualifiedAccess>]
module WeightFlow.Rebasin

open TorchSharp

/// How weight matching starts.
type WeightMatchingInit =
    /// All permutations start as the identity (Ainsworth et al.'s Algorithm 1).
    | Identity
    /// Front to back, P_j maximizes only the incoming part of (R.1), W^r_j (W_j P_{j-1}ᵀ)ᵀ + b^r_j b_jᵀ, given the
    /// already chosen P_{j-1}. For a permuted copy of θ_ref this is already the exact answer (rearrangement inequality:
    /// Σ_k ⟨r_k, r_σ(k)⟩ ≤ Σ_k ‖r_k‖², with equality only at σ = id when the neurons' rows r_k are distinct), so the
    /// sweeps cannot get stuck in a poorer coordinate-wise optimum, which the identity start can on deep networks.
    /// A network whose incoming-only start scores below the identity on the full objective starts from the identity.
    | ForwardIncoming

/// Weight-matching settings.
type WeightMatchingConfig =
    { /// Upper bound on full sweeps over the hidden layers (it usually stops after 2-5).
      MaxSweeps: int
      Init: WeightMatchingInit
      /// Seeds the random layer order of the sweeps.
      Seed: int64 }

/// Defaults: forward-incoming start, up to 100 sweeps.
let defaultWeightMatching = { MaxSweeps = 100; Init = ForwardIncoming; Seed = 0L }

/// A data loss for the Sinkhorn objectives: (step, θ [B, P]) -> per-network loss [B]. The step lets the loss draw
/// its own minibatch; `crossEntropyLoss` builds one.
type StepLoss = int -> Tensor -> Tensor

/// The Sinkhorn re-basin objective (R.2).
[<NoEquality; NoComparison>]
type SinkhornObjective =
    /// ‖θ_ref − π(θ)‖² / P (thesis eq. 4.4).
    | L2
    /// Loss at the midpoint of the linear path (thesis eq. 4.5).
    | Midpoint of loss: StepLoss
    /// Loss at a uniformly random point of the linear path (thesis eq. 4.6).
    | RandomPoint of loss: StepLoss

/// Sinkhorn re-basin settings. Defaults follow the anchor code (anchors §7) except the number of steps.
[<NoEquality; NoComparison>]
type SinkhornConfig =
    { Objective: SinkhornObjective
      /// Adam steps (anchor: 5 in `align_to_ref`, 10 in its script; more steps lower the objective further).
      Steps: int
      /// Adam learning rate (anchor: 0.1).
      LearningRate: float
      /// τ in S = Sinkhorn(X / τ) (anchor: 1).
      Temperature: float
      /// Log-domain Sinkhorn normalizations per evaluation (anchor: 20).
      SinkhornIterations: int
      /// X_j starts as I + noise·N(0, 1) (anchor: 0.1).
      InitNoise: float
      /// Seeds the initial noise and the random interpolation points.
      Seed: int64 }

/// Sinkhorn defaults for an objective.
let defaultSinkhorn (objective: SinkhornObjective) =
    { Objective = objective; Steps = 50; LearningRate = 0.1; Temperature = 1.0; SinkhornIterations = 20; InitNoise = 0.1; Seed = 0L }

/// An alignment method.
[<NoEquality; NoComparison>]
type Method =
    | WeightMatching of WeightMatchingConfig
    | Sinkhorn of SinkhornConfig

let private checkReference (layout: Layout) (reference: Tensor) =
    let p = Layout.paramCount layout
    if not ((reference.dim() = 1L && int reference.shape[0] = p) || (reference.dim() = 2L && reference.shape[0] = 1L && int reference.shape[1] = p)) then
        invalidArg "reference" $"The reference must be one {layout} network, shape [{p}] or [1, {p}]; got %A{reference.shape}."

let private checkReferences (layout: Layout) (references: Tensor) (theta: Tensor) =
    let p = Layout.paramCount layout
    if references.dim() <> 2L || int references.shape[1] <> p || references.shape[0] <> theta.shape[0] then
        invalidArg "references" $"Pairwise weight matching needs one {layout} reference per network, shape [{theta.shape[0]}, {p}]; got %A{references.shape}."

let private asRow (reference: Tensor) = if reference.dim() = 1L then reference.unsqueeze(0L) else reference

/// Permutes the columns (the `in` dimension) of W [B, out, in] by π [B, in]: W P_{}ᵀ.
let private permuteColumns (w: Tensor) (pi: Tensor) =
    w.gather(2L, pi.unsqueeze(1L).expand(-1L, w.shape[1], -1L))

/// Permutes the rows (the `out` dimension) of W [B, out, in] by π [B, out]: P W.
let private permuteRows (w: Tensor) (pi: Tensor) =
    w.gather(1L, pi.unsqueeze(2L).expand(-1L, -1L, w.shape[2]))

/// The incoming part of the score matrices of (R.1) for hidden layer j, W^r_j (W_j P_{j-1}ᵀ)ᵀ + b^r_j b_jᵀ: [B, h, h],
/// given the permutation of the previous hidden layer. ref*: [1, ...]; net*: [B, ...] (PyTorch orientation).
let private incomingScores (refLayers: LayerParams list) (netLayers: LayerParams list) (perms: Tensor[]) (j: int) =
    let wr, br = refLayers[j].W, refLayers[j].B
    let w = if j > 0 then permuteColumns netLayers[j].W perms[j - 1] else netLayers[j].W
    // [1, h, in] @ [B, in, h] (broadcast over B) + bias outer product.
    torch.matmul(wr, w.transpose(1L, 2L)) + br.unsqueeze(2L) * netLayers[j].B.unsqueeze(1L)

/// The full score matrices C_j [B, h, h] of (R.1) for hidden layer j: the incoming part plus the outgoing one,
/// W^r_{j+1}ᵀ (P_{j+1} W_{j+1}), given the current permutations of the neighbouring hidden layers.
let private scores (refLayers: LayerParams list) (netLayers: LayerParams list) (perms: Tensor[]) (j: int) =
    let hidden = perms.Length
    let wrNext = refLayers[j + 1].W
    let wNext = if j + 1 < hidden then permuteRows netLayers[j + 1].W perms[j + 1] else netLayers[j + 1].W
    // W^r_{j+1}ᵀ [1, h, out] @ (P_{j+1} W_{j+1}) [B, out, h]
    incomingScores refLayers netLayers perms j + torch.matmul(wrNext.transpose(1L, 2L), wNext)

/// Σ_k C[b, k, π_b(k)]: [B].
let private assignedScore (c: Tensor) (pi: Tensor) = c.gather(2L, pi.unsqueeze(2L)).squeeze(2L).sum(1L)

/// (R.1) against one reference row [1, P] shared by every network, or one reference row per network [B, P].
let private matchTo (config: WeightMatchingConfig) (layout: Layout) (reference: Tensor) (theta: Tensor) : Symmetry.Permutation =
    Check.arg "config" (config.MaxSweeps >= 1) $"Weight matching needs at least one sweep; MaxSweeps = {config.MaxSweeps}."
    let hidden = (Symmetry.hiddenWidths layout).Length
    let b = int theta.shape[0]
    let device = theta.device
    use _ = torch.no_grad ()
    let refLayers = Layout.unflatten layout (asRow(reference).to_type(theta.dtype).``to``(device))
    let netLayers = Layout.unflatten layout theta
    let perms = (Symmetry.identityPermutation device layout b).Perms |> Array.ofList
    match config.Init with
    | Identity -> ()
    | ForwardIncoming ->
        for j in 0 .. hidden - 1 do
            use c = incomingScores refLayers netLayers perms j
            perms[j] <- Assignment.solveBatch c
        // The incoming-only start can be worse than the identity on the full objective ⟨θ_ref, π(θ)⟩; keep the better
        // of the two per network, so that the result is never farther from the reference than θ itself.
        let start = Symmetry.permute layout { Perms = List.ofArray perms } theta
        let reference = asRow(reference).to_type(theta.dtype).``to``(device)
        use worse = (reference * start).sum(1L).lt((reference * theta).sum(1L))
        let identity = (Symmetry.identityPermutation device layout b).Perms |> Array.ofList
        for j in 0 .. hidden - 1 do perms[j] <- torch.where(worse.unsqueeze(1L), identity[j], perms[j])
    // The random layer order of each sweep comes from a generator seeded by config.Seed.
    use rng = Scope.Rng.create config.Seed
    // Networks still improving; a network leaves the set after a full sweep that improved none of its layers
    // (Ainsworth et al.'s stopping rule, applied per network so converged networks cost nothing).
    let mutable active = torch.arange(int64 b, dtype = torch.int64, device = device)
    let mutable sweep = 0
    while hidden > 0 && active.numel() > 0L && sweep < config.MaxSweeps do
        sweep <- sweep + 1
        let all = active.numel() = int64 b
        let sub (t: Tensor) = if all then t else t.index_select(0L, active)
        let netSub = if all then netLayers else Layout.unflatten layout (theta.index_select(0L, active))
        let refSub = if all || refLayers[0].W.shape[0] = 1L then refLayers else Layout.unflatten layout (asRow(reference).to_type(theta.dtype).``to``(device).index_select(0L, active))
        let permsSub = perms |> Array.map sub
        let mutable improved = torch.zeros([| active.numel() |], dtype = torch.ScalarType.Bool, device = device)
        let order = (use o = torch.randperm(int64 hidden, generator = rng) in o.data<int64>().ToArray())
        for j in order |> Array.map int do
            use c = scores refSub netSub permsSub j
            use next = Assignment.solveBatch c
            use before = assignedScore c permsSub[j]
            use after = assignedScore c next
            // An improvement beyond rounding (relative 1e-6 of the score: float32 sums of ~100 products carry
            // ~1e-5 relative noise at worst, and the assignment is exact, so smaller gains are ties).
            use tol = before.abs().mul(scalar 1e-6).add(scalar 1e-12)
            let better = after.gt(before + tol)
            // Keep the old permutation where the new one is not strictly better, so that sweeps terminate.
            permsSub[j] <- torch.where(better.unsqueeze(1L), next, permsSub[j])
            improved <- improved.logical_or(better)
        for j in 0 .. hidden - 1 do
            if all then perms[j] <- permsSub[j] else perms[j].index_copy_(0L, active, permsSub[j]) |> ignore
        active <- active.masked_select(improved)
    { Perms = List.ofArray perms }

/// Weight matching (R.1) of B networks to one reference. reference: [P] or [1, P]; theta: [B, P].
/// Returns the permutations; `Symmetry.permute layout result theta` is the aligned zoo.
let weightMatching (config: WeightMatchingConfig) (layout: Layout) (reference: Tensor) (theta: Tensor) : Symmetry.Permutation =
    checkReference layout reference
    matchTo config layout reference theta

/// Weight matching (R.1) of each network to its own reference: references [B, P], theta [B, P]; network b is
/// permuted to lie close to references[b] (a flow target matched to its prior sample, Flow/Coupling).
let weightMatchingPairs (config: WeightMatchingConfig) (layout: Layout) (references: Tensor) (theta: Tensor) : Symmetry.Permutation =
    checkReferences layout references theta
    matchTo config layout references theta

/// Log-domain Sinkhorn normalization (thesis eq. 4.3 with entropic weight τ): alternately normalizes the rows and the
/// columns of exp(X / τ) in log space; returns the doubly stochastic S [B, n, n] (columns sum to 1 exactly, rows
/// approximately after `iterations` rounds). Differentiable (autograd through the unrolled iterations; the anchor uses
/// implicit differentiation, whose gradient this approaches as the iterations converge).
let sinkhorn (iterations: int) (temperature: float) (x: Tensor) : Tensor =
    let mutable z = x / temperature
    for _ in 1 .. iterations do
        z <- z - z.logsumexp(2L, true)
        z <- z - z.logsumexp(1L, true)
    z.exp()

/// Applies soft (or hard 0/1) permutation matrices S_j [B, h_j, h_j] to B networks: W'_l = S_l W_l S_{l-1}ᵀ,
/// b'_l = S_l b_l (R.2). Differentiable in S and θ.
let softPermute (layout: Layout) (s: Tensor list) (theta: Tensor) : Tensor =
    let s = Array.ofList s
    let depth = Layout.depth layout
    let layers =
        Layout.unflatten layout theta
        |> List.mapi (fun l p ->
            let w = if l < depth - 1 then torch.bmm(s[l], p.W) else p.W
            let w = if l > 0 then torch.bmm(w, s[l - 1].transpose(1L, 2L)) else w
            let bias = if l < depth - 1 then torch.bmm(s[l], p.B.unsqueeze(2L)).squeeze(2L) else p.B
            { W = w; B = bias })
    Layout.flatten layout layers

/// Mean cross-entropy on a random training minibatch per step (the loss of the Mid and Rnd objectives). The minibatch
/// of step t is drawn from a generator seeded by (seed, t), so a run is reproducible. x: [N, d]; y: [N] int64.
let crossEntropyLoss (layout: Layout) (x: Tensor) (y: Tensor) (batchSize: int) (seed: int64) : StepLoss =
    let n = x.shape[0]
    fun step theta ->
        if int64 batchSize >= n then Mlp.crossEntropy layout theta x y
        else
            use g = Scope.Rng.create (Scope.Rng.derive seed (int64 step))
            use idx = torch.randperm(n, generator = g).narrow(0L, 0L, int64 batchSize).``to``(x.device)
            Mlp.crossEntropy layout theta (x.index_select(0L, idx)) (y.index_select(0L, idx))

/// Sinkhorn re-basin (R.2) of B networks to one reference. reference: [P] or [1, P]; theta: [B, P].
let sinkhornRebasin (config: SinkhornConfig) (layout: Layout) (reference: Tensor) (theta: Tensor) : Symmetry.Permutation =
    checkReference layout reference
    Check.arg "config" (config.Steps >= 0 && config.SinkhornIterations >= 1 && config.Temperature > 0.0 && config.LearningRate > 0.0)
        "Sinkhorn re-basin needs Steps >= 0, SinkhornIterations >= 1, Temperature > 0 and LearningRate > 0."
    let hs = Symmetry.hiddenWidths layout
    let b = theta.shape[0]
    let device = theta.device
    let p = float (Layout.paramCount layout)
    let theta = theta.detach()
    let reference = asRow(reference).to_type(theta.dtype).``to``(device).detach()
    use gen = Scope.Rng.create config.Seed
    let xs =
        [ for h in hs ->
            use noise = torch.randn([| b; int64 h; int64 h |], generator = gen, dtype = theta.dtype)
            let x0 = torch.eye(int64 h, dtype = theta.dtype).unsqueeze(0L) + noise * config.InitNoise
            new Modules.Parameter(x0.``to``(device)) ]
    if hs.Length > 0 && config.Steps > 0 then
        let ps : Modules.Parameter seq = xs
        use optimizer = torch.optim.Adam(ps, lr = config.LearningRate)
        for step in 0 .. config.Steps - 1 do
          Scope.value (fun () ->
            optimizer.zero_grad()
            let s = xs |> List.map (fun x -> sinkhorn config.SinkhornIterations config.Temperature x)
            let moved = softPermute layout s theta
            let losses =
                match config.Objective with
                | L2 -> (reference - moved).square().sum(1L) / p
                | Midpoint loss -> loss step ((reference + moved) * 0.5)
                | RandomPoint loss ->
                    use g = Scope.Rng.create (Scope.Rng.derive config.Seed (int64 step + 1L))
                    let lambda = torch.rand([| b; 1L |], generator = g, dtype = theta.dtype).``to``(device)
                    loss step (reference * (1.0 - lambda) + moved * lambda)
            losses.sum().backward()
            optimizer.step() |> ignore)
    use _ = torch.no_grad ()
    let perms = xs |> List.map (fun x -> Assignment.solveBatch x)
    for x in xs do x.Dispose()
    { Perms = perms }

/// The permutations aligning B networks to the reference by either method, computed in chunks of `chunk` networks
/// (bounds the memory of the score matrices and of Sinkhorn's autograd graph). `progress done total` is called after
/// each chunk.
let permutations (method: Method) (layout: Layout) (chunk: int) (progress: int -> int -> unit) (reference: Tensor) (theta: Tensor) : Symmetry.Permutation =
    Check.arg "chunk" (chunk >= 1) $"The chunk size must be positive; got {chunk}."
    let b = int theta.shape[0]
    let hs = Symmetry.hiddenWidths layout
    // Each chunk's permutations packed side by side, [len, Σ h_j], computed in its own dispose scope.
    let parts =
        [ for start in 0 .. chunk .. b - 1 ->
            let len = min chunk (b - start)
            let packed =
                Scope.run (fun () ->
                    let piece = theta.narrow(0L, int64 start, int64 len)
                    let perm =
                        match method with
                        | WeightMatching c -> weightMatching { c with Seed = Scope.Rng.derive c.Seed (int64 start) } layout reference piece
                        | Sinkhorn c -> sinkhornRebasin { c with Seed = Scope.Rng.derive c.Seed (int64 start) } layout reference piece
                    if perm.Perms.IsEmpty then torch.zeros([| int64 len; 0L |], dtype = torch.int64, device = theta.device)
                    else torch.cat(List.toArray perm.Perms, 1L))
            progress (start + len) b
            packed ]
    if parts.IsEmpty then Symmetry.identityPermutation theta.device layout 0
    else
        use all = torch.cat(List.toArray parts, 0L)
        for p in parts do p.Dispose()
        let offsets = Array.scan (+) 0 hs
        { Perms = [ for j in 0 .. hs.Length - 1 -> all.narrow(1L, int64 offsets[j], int64 hs[j]).contiguous() ] }

/// Aligns B networks to the reference: `Symmetry.permute` with `permutations`. The networks' functions are unchanged.
let align (method: Method) (layout: Layout) (chunk: int) (progress: int -> int -> unit) (reference: Tensor) (theta: Tensor) : Tensor =
    let perm = permutations method layout chunk progress reference theta
    Symmetry.permute layout perm theta
