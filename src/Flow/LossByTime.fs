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
