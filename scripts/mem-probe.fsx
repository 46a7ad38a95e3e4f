// Issue 13 memory probe (docs/results/memory-mnist.md): the stages of `reproduce mnist --preset full`'s first flow
// (scripts/heldout-train.fsx: zoo, alignment, the Euclidean RT from the full-covariance prior, 800 steps), then its
// 32 samples and the main job's evaluation (scripts/heldout-change.fsx), with `Evaluation.prepare` and
// `Evaluation.evaluate` unrolled so that each sub-step prints a timestamp (its body copied from src/Eval/Evaluation.fs as it was before
// 6d88387, which put it in a dispose scope).
// Run under scripts/mem-probe.sh, which samples VmRSS / VmHWM every 0.5 s.
//
//   OUT=results/mem/full WEIGHTFLOW_THREADS=2 scripts/mem-probe.sh results/mem/probe dotnet fsi scripts/mem-probe.fsx
//   OUT=results/mem/full SETTLE=1 WEIGHTFLOW_THREADS=2 scripts/mem-probe.sh results/mem/settle dotnet fsi scripts/mem-probe.fsx
#load "_mem_stages.fsx"
open _mem_stages
open TorchSharp
open WeightFlow

// Evaluation.prepare, unrolled
let z =
    use _ = torch.no_grad ()
    let novelty = Novelty.reference config.Alignment aligned.Layout reference training0 judge
    log $"STAGE prepare: Novelty.reference done (training {shape novelty.Training})"
    settle "prepare"
    let judgeAligned = Novelty.realign config.Alignment aligned.Layout reference judge
    log $"STAGE prepare: realign judge done {shape judgeAligned}"
    settle "prepare"
    use g = Scope.Rng.create config.Seed
    let training = novelty.Training
    let m = training.shape[0]
    let pick = torch.randperm(m, generator = g).narrow(0L, 0L, min m (int64 config.FloorSize)).``to``(training.device)
    let subset = training.index_select(0L, pick)
    use pooled = torch.cat([| subset; judgeAligned |], 0L)
    let bandwidth = Fidelity.medianBandwidth pooled
    log $"STAGE prepare: pooled {shape pooled}, bandwidth done"
    settle "prepare"
    let metric = Fidelity.fit config.Fidelity aligned.Layout training (Evaluation.probeOf config data) config.Seed config.Projections pooled
    log $"STAGE prepare: Fidelity.fit ({config.Fidelity}) done"
    settle "prepare"
    let floor = Fidelity.distance metric subset judgeAligned
    log $"STAGE prepare: fidelity floor done {floor}"
    settle "prepare"
    let swf = Fidelity.slicedWasserstein config.Seed config.Projections subset judgeAligned
    log $"STAGE prepare: sliced-W floor done {swf}"
    settle "prepare"
    {| Novelty = novelty; Judge = judgeAligned; Metric = metric |}
let calibRows = Calibration.rowsOf config.Calibration data
log "STAGE prepare: calibration rows done"
// Evaluation.evaluate, unrolled
do
    use _ = torch.no_grad ()
    let b = int theta.shape[0]
    let m = Metrics.compute config.Calibration aligned.Layout calibRows data.Test theta
    log $"STAGE evaluate: Metrics.compute (calibration) done: calibrated logits {shape m.CalibratedLogits}"
    settle "evaluate"
    let k = min config.BmaK b
    let curve = Bma.curve config.Bma k m.CalibratedLogits data.Test.Y
    log $"STAGE evaluate: BMA done (k {k}): {(List.last curve).Accuracy}"
    settle "evaluate"
    let diversity = Diversity.ofLogits (m.CalibratedLogits.narrow(0L, 0L, int64 (min b config.DiversityMax)))
    log $"STAGE evaluate: diversity done {diversity}"
    settle "evaluate"
    let al = Novelty.realign config.Alignment aligned.Layout z.Novelty.Reference theta
    log "STAGE evaluate: realign samples done"
    let nd = Novelty.nearestDistance z.Novelty.Training al
    log $"STAGE evaluate: novelty nearestDistance done (median {nd.median().ToDouble()})"
    settle "evaluate"
    let f = Fidelity.distance z.Metric al z.Judge
    log $"STAGE evaluate: fidelity done {f}"
    settle "evaluate"
    let s = Fidelity.slicedWasserstein config.Seed config.Projections al z.Judge
    log $"STAGE evaluate: sliced W done {s}"
    settle "evaluate"
log "STAGE end"
