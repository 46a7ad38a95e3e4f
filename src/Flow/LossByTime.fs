/// The training objective per time bucket, beside trivial predictors (issue 11: "the training loss per t bucket
/// (five buckets) beside the loss of predicting the zoo mean"). At small t an equivariant model must decide which
/// noise neuron becomes which target neuron; on aligned targets it can sit at or above the zoo-mean predictor there
/// (evaluation-findings.md), which the overall loss hides.
[<RequireQualifiedAccess>]
module WeightFlow.LossByTime

open TorchSharp

/// One evaluation: for each of `buckets` equal intervals of t, `perBucket` targets drawn from `targets` (in the
/// space), fresh prior samples, the training coupling, t uniform in the interval and x_t on the path; then every
/// predictor's mean endpoint loss (Objective.endpointLoss) on the same pairs. A predictor maps (t [B], x_t [B, P]) to
/// x̂1 [B, P] (projected). Returns losses[predictor][bucket]. No gradients; one seed fixes every draw.
/// The coupling is applied to consecutive chunks of `couplingBatch` pairs, the training minibatch size: minibatch OT
/// over all `perBucket` pairs at once would pair better than training ever does (and symmetry+OT over 512 pairs
/// would cost 512² weight matchings).
let evaluate (space: FlowSpace) (prior: Prior) (coupling: Coupling) (couplingBatch: int) (buckets: int) (perBucket: int)
             (seed: int64) (targets: Tensor) (predictors: (Tensor -> Tensor -> Tensor) list) : float[][] =
    Check.arg "buckets" (buckets >= 1) $"Need at least one bucket; got {buckets}."
    Check.arg "couplingBatch" (couplingBatch >= 1) $"couplingBatch must be >= 1; got {couplingBatch}."
    use gen = Scope.Rng.create seed
    use _ = torch.no_grad ()
    let device = targets.device
    let sums = Array.init predictors.Length (fun _ -> Array.zeroCreate<float> buckets)
    for k in 0 .. buckets - 1 do
        Scope.value (fun () ->
            let idx = torch.randint(targets.shape[0], [| int64 perBucket |], generator = gen).``to``(device)
            let x1 = targets.index_select(0L, idx)
            let x0 = Prior.sample prior space gen device perBucket
            let u = torch.rand([| int64 perBucket |], generator = gen).``to``(device)
            let t = (u + float k) / float buckets
            let x0, x1 =
                if couplingBatch >= perBucket then Coupling.pair coupling space x0 x1
                else
                    let pairs =
                        [ for s in 0 .. couplingBatch .. perBucket - 1 ->
                            let n = int64 (min couplingBatch (perBucket - s))
                            Coupling.pair coupling space (x0.narrow(0L, int64 s, n)) (x1.narrow(0L, int64 s, n)) ]
                    torch.cat(pairs |> List.map fst |> List.toArray, 0L), torch.cat(pairs |> List.map snd |> List.toArray, 0L)
            let xt = Path.sample space.Path gen x0 x1 t
            predictors |> List.iteri (fun i predict ->
                sums[i][k] <- (Objective.endpointLoss space (predict t xt) x1).mean().ToDouble()))
    sums

/// The zoo-mean predictor: the mean of the targets (projected onto the space), whatever t and x_t.
let zooMean (space: FlowSpace) (targets: Tensor) : Tensor -> Tensor -> Tensor =
    let mean = Scope.noGrad (fun () -> Scope.run (fun () -> FlowSpace.project space (targets.mean([| 0L |], true))))
    mean.DetachFromDisposeScope() |> ignore
    fun _ xt -> mean.expand(xt.shape[0], -1L).clone()

/// The exact posterior-mean predictor of the empirical target distribution (issue 13, docs/mnist/heldout.md): x̂1 =
/// E[x1 | x_t] when x1 is uniform over the N rows of `targets` and x0 ~ the prior N(μ, Σ) on the Euclidean path
/// x_t = (1 − t) x0 + t x1, i.e. Σ_k w_k x_k with w_k ∝ exp(−r_kᵀ Σ⁻¹ r_k / (2 (1 − t)²)), r_k = x_t − (1 − t) μ − t x_k.
/// It is the lowest endpoint loss any predictor reaches on pairs drawn from `targets` (what a model that memorizes
/// its training set approaches), and on other targets it snaps to the nearest training rows. Σ is the fitted prior's
/// FᵀF + diag(Residual²) (Prior.FittedGaussian), diag(Std²) without a covariance, or Std²·I for the origin prior;
/// Σ⁻¹ through Woodbury, so the cost per query is two [B, P] x [P, N] products and one [K, K] solve. The path's σ
/// is left out of the likelihood (exact at σ = 0; with σ it only matters where (1 − t)·Residual is below σ).
/// `empiricalPosteriorWeights` returns (t [B], x_t [B, P]) -> the weights w [B, N] (float64, CPU), which say how far the
/// posterior has concentrated on single targets; `empiricalPosterior` the prediction w·targets in the targets' dtype.
let empiricalPosteriorWeights (space: FlowSpace) (prior: Prior) (targets: Tensor) : Tensor -> Tensor -> Tensor =
    Check.arg "space" (space.Canonical.IsNone && (match space.Path with Gaussian _ -> true | Geodesic _ -> false))
        $"The empirical posterior is written for the Euclidean path; got a {FlowKind.text space.Kind} flow."
    let p = targets.shape[1]
    let mean, dev, factor =
        match prior.Centre with
        | Origin -> torch.zeros([| p |], dtype = torch.float64), torch.full([| p |], scalar prior.Std, dtype = torch.float64), None
        | Fitted g ->
            Check.arg "prior" (g.Layout = space.Layout) $"The prior was fitted on {g.Layout}, the space is {space.Layout}."
            let f64 (x: Tensor) = x.cpu().to_type(torch.float64)
            match g.Covariance with
            | None -> f64 g.Mean, f64 g.Std, None
            | Some c -> f64 g.Mean, f64 c.Residual, Some (f64 c.Factor)
        | FitToTargets _ | FitFullToTargets _ -> invalidArg "prior" "The prior is still to be fitted (Prior.fit / Prior.fitFull)."
    let keep (x: Tensor) = x.DetachFromDisposeScope()
    let mean = keep mean
    let yw, pw, l, g, inv, quadY =
        Scope.noGrad (fun () ->
            use _ = Scope.enter ()
            let y = targets.cpu().to_type(torch.float64)
            let inv = dev.reciprocal()
            let yw = y * inv.unsqueeze(0L)                                               // D^{-1/2} y_k
            match factor with
            | None -> keep yw, None, None, None, keep inv, keep (yw.pow(scalar 2.0).sum(1L))
            | Some f ->
                let g = f * inv.unsqueeze(0L)                                            // G = F D^{-1/2} [K, P]
                let m = torch.eye(g.shape[0], dtype = torch.float64) + g.matmul(g.t())
                let l = torch.linalg.cholesky m
                // L⁻¹ G D^{-1/2} y_k for every target: [N, K]
                let pw = torch.linalg.solve_triangular(l, g.matmul(yw.t()), upper = false).t().contiguous()
                let quad = yw.pow(scalar 2.0).sum(1L) - pw.pow(scalar 2.0).sum(1L)      // y_kᵀ Σ⁻¹ y_k
                keep yw, Some (keep pw), Some (keep l), Some (keep g), keep inv, keep quad)
    fun t xt ->
        Scope.noGrad (fun () ->
            Scope.run (fun () ->
                let t64 = t.cpu().to_type(torch.float64).clamp(scalar 0.0, scalar (1.0 - 1e-9)).unsqueeze(1L)
                let a = xt.cpu().to_type(torch.float64) - (1.0 - t64) * mean.unsqueeze(0L)
                let aw = a * inv.unsqueeze(0L)
                // aᵀ Σ⁻¹ y_k [B, N]; the quadratic in a alone is the same for every k and drops out of the softmax
                let cross =
                    match l, g, pw with
                    | Some l, Some g, Some pw ->
                        let q = torch.linalg.solve_triangular(l, g.matmul(aw.t()), upper = false).t()
                        aw.matmul(yw.t()) - q.matmul(pw.t())
                    | _ -> aw.matmul(yw.t())
                let logits = (2.0 * t64 * cross - t64.pow(scalar 2.0) * quadY.unsqueeze(0L)) / (2.0 * (1.0 - t64).pow(scalar 2.0))
                torch.softmax(logits, 1)))

/// The empirical posterior mean (`empiricalPosteriorWeights`) as a predictor (t [B], x_t [B, P]) -> x̂1 [B, P].
let empiricalPosterior (space: FlowSpace) (prior: Prior) (targets: Tensor) : Tensor -> Tensor -> Tensor =
    let weights = empiricalPosteriorWeights space prior targets
    let y = Scope.noGrad (fun () -> targets.cpu().to_type(torch.float64).DetachFromDisposeScope())
    fun t xt -> Scope.noGrad (fun () -> Scope.run (fun () -> (weights t xt).matmul(y).to_type(targets.dtype).``to``(xt.device)))

/// One t bucket's pairs for per-pair losses in a standardized flow's coordinates (docs/mnist/longrt.md, heldout.md):
/// t [B], x_t [B, P] on the flow's path, and z_t, z1 = (x − μ)/s in the prior's standardized coordinates.
[<NoEquality; NoComparison>]
type StandardizedPairs = { T: Tensor; Xt: Tensor; Zt: Tensor; Z1: Tensor }

/// `buckets` x `perBucket` pairs for a flow with a standardized fitted prior and independent coupling, drawn from one
/// generator seeded `seed` in scripts/longrt-run.fsx's order (so its tables are reproduced): per bucket k, the target
/// rows (uniform over `targets`, [M, P]), the prior draws x0, t uniform in [k, k + 1)/buckets, then x_t on the path
/// (its σ noise). Unlike `evaluate`, the pairs are kept, so any predictor, and any set of targets, meets the same t
/// and x0 draws under the same seed.
let standardizedPairs (flow: Flow) (targets: Tensor) (buckets: int) (perBucket: int) (seed: int64) : StandardizedPairs[] =
    Check.arg "buckets" (buckets >= 1 && perBucket >= 1) $"Need at least one bucket and one pair; got {buckets} x {perBucket}."
    let toZ =
        match Prior.standardize flow.Prior (Flow.layout flow) with
        | Some (toZ, _) -> toZ
        | None -> invalidArg "flow" "Per-pair losses in standardized coordinates need a flow with a standardized fitted prior."
    use gen = Scope.Rng.create seed
    Scope.noGrad (fun () ->
        [| for k in 0 .. buckets - 1 ->
            use _ = Scope.enter ()
            let idx = torch.randint(targets.shape[0], [| int64 perBucket |], generator = gen)
            let x1 = targets.index_select(0L, idx)
            let x0 = Flow.samplePrior flow gen torch.CPU perBucket
            let t = (torch.rand([| int64 perBucket |], generator = gen) + float k) / float buckets
            let xt = Path.sample flow.Space.Path gen x0 x1 t
            let keep (x: Tensor) = x.DetachFromDisposeScope()
            { T = keep t; Xt = keep xt; Zt = keep (toZ xt); Z1 = keep (toZ x1) } |])

/// Each pair's endpoint loss, the mean over coordinates of (ẑ1 − z1)², for a predictor (t, x_t, z_t) -> ẑ1:
/// losses[bucket][pair].
let perPairLoss (pairs: StandardizedPairs[]) (predict: Tensor -> Tensor -> Tensor -> Tensor) : float[][] =
    Scope.noGrad (fun () ->
        [| for b in pairs ->
            Scope.value (fun () -> (predict b.T b.Xt b.Zt - b.Z1).pow(scalar 2.0).mean([| 1L |]).to_type(torch.float64).data<float>().ToArray()) |])
