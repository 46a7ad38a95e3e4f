// The candidate samplers of the pre-stated test docs/uci/guided.md and how a candidate draws a row's networks, shared
// by scripts/guided-select.fsx (validation, zoo seeds ≠ 0) and scripts/guided-test.fsx (seed 0's test split).
// Loaded after _load.fsx.
module GuidedCandidates

open TorchSharp
open WeightFlow

/// A sampler for the three Euclidean RT rows: Euler steps and guidance strength λ (0 = unguided; otherwise the task's
/// training loss at the state, fresh minibatches of 64 training rows per field evaluation, as Fig. 7.3's sweep).
type Candidate = { Name: string; Steps: int; Lambda: float }

/// S0 (the table's sampling), S1 (512 steps), S2 (512 steps guided, λ 0.1: Fig. 7.3's and Table 7.3's setting).
let candidates =
    [ { Name = "S0"; Steps = 100; Lambda = 0.0 }
      { Name = "S1"; Steps = 512; Lambda = 0.0 }
      { Name = "S2"; Steps = 512; Lambda = 0.1 } ]

/// The full preset's job restricted to the three nine-table Euclidean RT rows (isotropic prior, 3,000 iterations at
/// 1e-3) at zoo seed `seed`, each row with its table τ (`Reproduce.uciSelectedTemperature`).
let euclideanJob (seed: int64) (dir: string) : MainJobConfig =
    let job = (Reproduce.uciConfig Full seed dir).Job
    { job with Flows = job.Flows |> List.filter Reproduce.isEuclideanRtRow }

/// `count` networks of `flow` drawn by candidate `k` at temperature `tau`: the row's own sampling settings `s`
/// (`MainJobConfig.samplingOf`: seed, batches of 64, Euler, conditional rule) with k's steps and guidance, under
/// no_grad as `MainJob.sampleFlow` (guidance takes its own gradient). Same seed, so the prior draws are the same for
/// every candidate.
let draw (data: Dataset) (s: SamplingConfig) (k: Candidate) (count: int) (tau: float) (flow: Flow) : Tensor =
    let guidance = if k.Lambda > 0.0 then Some { Lambda = k.Lambda; At = GuideAt.State; Data = data; Batch = 64 } else None
    let config = { s with Count = count; Temperature = tau; Steps = k.Steps; Guidance = guidance }
    let r = Scope.noGrad (fun () -> Sampling.sample config ignore torch.CPU flow)
    if r.NonFinite.Length > 0 then printfn "non-finite\t%s: %d networks dropped" k.Name r.NonFinite.Length
    r.Theta
