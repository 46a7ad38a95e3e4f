using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>Sizes of the main job's flows.</summary>
public enum PipelinePreset
{
    /// <summary>The CPU preset (<c>TrainingConfig.cpu</c>: 1000 iterations per flow), as <c>weightflow run</c>.</summary>
    Quick,
    /// <summary>Every flow trained 5x longer (<c>--preset full</c>).</summary>
    Full,
}

/// <summary>Progress of the main job.</summary>
/// <param name="Stage">"zoo", "align", "barriers", "canonicalize", "flow:NAME", "samples:NAME" or "evaluate".</param>
/// <param name="Done">Units done in this stage (iterations, networks, measurements).</param>
/// <param name="Total">Units in this stage.</param>
public sealed record MainJobProgress(string Stage, int Done, int Total);

/// <summary>Options of <see cref="Pipeline.RunAsync"/>: the main job for a task (<c>weightflow run</c>).</summary>
public sealed class PipelineOptions
{
    /// <summary>The task. Default <see cref="TrainingTask.Uci"/> (the thesis' zoo); a CSV task derives its layout and
    /// checkpoint interval from the data, as <c>weightflow run --task csv:PATH</c>.</summary>
    public TrainingTask Task { get; init; } = TrainingTask.Uci;
    /// <summary>The flows' sizes. Default <see cref="PipelinePreset.Quick"/>.</summary>
    public PipelinePreset Preset { get; init; } = PipelinePreset.Quick;
    /// <summary>Training steps of every flow; null takes the preset's. The warm-up stays a tenth of the run (as
    /// <c>--iterations</c>). At least 1.</summary>
    public int? Iterations { get; init; }
    /// <summary>Results folder; finished stages found there are read back instead of recomputed.</summary>
    public string OutDir { get; init; } = System.IO.Path.Combine("results", "run");
    /// <summary>Seed of the zoo, the barrier pairs, the flows and the samples.</summary>
    public long Seed { get; init; }
    /// <summary>Independent runs in the zoo; null takes the task's preset (UCI 100).</summary>
    public int? Runs { get; init; }
    /// <summary>Training epochs of the zoo; null takes the task's preset (UCI 50).</summary>
    public int? Epochs { get; init; }
    /// <summary>Random checkpoint pairs per barrier measurement (the thesis: 250). At least 1.</summary>
    public int Pairs { get; init; } = 250;
    /// <summary>Networks sampled from each flow (and drawn for the Gaussian and held-out baselines; diversity over all
    /// of them); null takes the job's 256. At least 1.</summary>
    public int? Samples { get; init; }
    /// <summary>Solver steps per sample (Euler); null takes the job's 100. At least 1.</summary>
    public int? SamplingSteps { get; init; }
    /// <summary>Sampling temperature τ of every flow's prior draw (see <see cref="SamplingOptions.Temperature"/>); null
    /// takes the job's default. Finite and at least 0.</summary>
    public double? SamplingTemperature { get; init; }
    /// <summary>Whole runs the flows never see; null takes the job's (a tenth of the runs, at least 2). At least 2
    /// and fewer than the zoo's runs.</summary>
    public int? HeldOutRuns { get; init; }
    /// <summary>Train, sample and evaluate the flows; false stops after the barriers.</summary>
    public bool Flows { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property.</summary>
    public void Validate()
    {
        if (Task is null) throw new ArgumentOutOfRangeException(nameof(Task), "Task must be a TrainingTask, e.g. TrainingTask.Uci.");
        if (!Enum.IsDefined(Preset)) throw new ArgumentOutOfRangeException(nameof(Preset), Preset, "Preset must be Quick or Full.");
        if (Iterations is < 1) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, "Iterations must be at least 1.");
        if (string.IsNullOrWhiteSpace(OutDir)) throw new ArgumentOutOfRangeException(nameof(OutDir), "OutDir must name a folder.");
        if (Runs is < 1) throw new ArgumentOutOfRangeException(nameof(Runs), Runs, "Runs must be at least 1.");
        if (Epochs is < 2) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 2.");
        if (Pairs < 1) throw new ArgumentOutOfRangeException(nameof(Pairs), Pairs, "Pairs must be at least 1.");
        if (Samples is < 1) throw new ArgumentOutOfRangeException(nameof(Samples), Samples, "Samples must be at least 1.");
        if (SamplingSteps is < 1) throw new ArgumentOutOfRangeException(nameof(SamplingSteps), SamplingSteps, "SamplingSteps must be at least 1.");
        if (SamplingTemperature is double tau && (!(tau >= 0) || double.IsInfinity(tau))) throw new ArgumentOutOfRangeException(nameof(SamplingTemperature), SamplingTemperature, "SamplingTemperature must be finite and >= 0 (1 = the prior as trained, 0 = its centre), or null.");
        if (HeldOutRuns is < 2) throw new ArgumentOutOfRangeException(nameof(HeldOutRuns), HeldOutRuns, "HeldOutRuns must be at least 2 (half judge novelty and fidelity, half are the held-out row).");
        if (Flows && HeldOutRuns is int h && Runs is int r && h >= r)
            throw new ArgumentOutOfRangeException(nameof(HeldOutRuns), HeldOutRuns, $"HeldOutRuns must be fewer than Runs ({r}): at least one run trains the flows.");
    }
}

/// <summary>One row of a quality table: a set of networks (a flow's samples or a baseline) evaluated on the task's test
/// split, as <c>weightflow eval</c> and <c>report.md</c> print it.</summary>
public sealed class QualityRow
{
    internal QualityRow(Evaluation.Row r)
    {
        Name = r.Name;
        Count = r.Count;
        AccuracyMean = r.AccuracyMean;
        AccuracyMin = r.AccuracyMin;
        AccuracyStd = r.AccuracyStd;
        CrossEntropy = r.CrossEntropy;
        CalibratedCrossEntropy = r.CalibratedCrossEntropy;
        CalibratedCrossEntropyMedian = r.CalibratedCrossEntropyMedian;
        TemperatureMedian = r.TemperatureMedian;
        BmaK = r.Bma.K;
        BmaAccuracy = r.Bma.Accuracy;
        BmaNll = r.Bma.Nll;
        Diversity = r.Diversity is { } d ? d.Value : null;
        Fidelity = r.Fidelity is { } f ? f.Value : null;
        FidelityFloor = r.FidelityFloor is { } ff ? ff.Value : null;
        SlicedWasserstein = r.SlicedWasserstein is { } sw ? sw.Value : null;
        SlicedWassersteinFloor = r.SlicedWassersteinFloor is { } swf ? swf.Value : null;
        NoveltyRatio = r.NoveltyRatio is { } n ? n.Value : null;
        Seconds = r.Seconds;
    }

    /// <summary>The row's name: a flow's ("Geometric", ...) or a baseline's ("zoo mean", "fitted Gaussian", "held-out").</summary>
    public string Name { get; }
    /// <summary>Networks evaluated.</summary>
    public int Count { get; }
    /// <summary>Mean test accuracy.</summary>
    public double AccuracyMean { get; }
    /// <summary>Lowest test accuracy.</summary>
    public double AccuracyMin { get; }
    /// <summary>Standard deviation of the test accuracies.</summary>
    public double AccuracyStd { get; }
    /// <summary>Mean test cross-entropy of softmax(logits).</summary>
    public double CrossEntropy { get; }
    /// <summary>Mean test cross-entropy after a temperature per network fitted on the validation split.</summary>
    public double CalibratedCrossEntropy { get; }
    /// <summary>Median over networks of the calibrated cross-entropy.</summary>
    public double CalibratedCrossEntropyMedian { get; }
    /// <summary>Median fitted temperature.</summary>
    public double TemperatureMedian { get; }
    /// <summary>Networks in the Bayesian model average.</summary>
    public int BmaK { get; }
    /// <summary>Test accuracy of the Bayesian model average of <see cref="BmaK"/> networks.</summary>
    public double BmaAccuracy { get; }
    /// <summary>Test negative log-likelihood of that average.</summary>
    public double BmaNll { get; }
    /// <summary>Mean pairwise Jensen-Shannon divergence of the calibrated predictions; null for one network.</summary>
    public double? Diversity { get; }
    /// <summary>The evaluation's fidelity metric (default: MMD² of the predictive distributions on 256 probe inputs,
    /// docs/fidelity-metric.md) to the held-out judge checkpoints; null without a zoo to compare with.</summary>
    public double? Fidelity { get; }
    /// <summary>The same metric from training checkpoints to the judge checkpoints (the floor a perfect sampler reaches).</summary>
    public double? FidelityFloor { get; }
    /// <summary>Sliced Wasserstein-2 distance to the judge checkpoints; null without a zoo.</summary>
    public double? SlicedWasserstein { get; }
    /// <summary>Its floor (training against judge checkpoints).</summary>
    public double? SlicedWassersteinFloor { get; }
    /// <summary>Median distance to the nearest training checkpoint over the judges' (above 0.5: not copies).</summary>
    public double? NoveltyRatio { get; }
    /// <summary>Wall-clock seconds of this row's evaluation.</summary>
    public double Seconds { get; }
}

/// <summary>One quality table: the flows evaluated in one space with the three baselines in the same space.</summary>
public sealed class QualityTable
{
    internal QualityTable(MainJobTable t)
    {
        Space = t.Space;
        Flows = t.Flows.Select(r => new QualityRow(r)).ToArray();
        Baselines = t.Baselines.Select(r => new QualityRow(r)).ToArray();
    }

    /// <summary>"raw" (the Euclidean flows) or "canonical" (Normalized and Geometric).</summary>
    public string Space { get; }
    /// <summary>One row per flow.</summary>
    public IReadOnlyList<QualityRow> Flows { get; }
    /// <summary>Zoo mean, fitted diagonal Gaussian, held-out checkpoints.</summary>
    public IReadOnlyList<QualityRow> Baselines { get; }
}

/// <summary>A flow the main job trained and sampled.</summary>
public sealed class PipelineFlow
{
    internal PipelineFlow(MainJobFlow f)
    {
        Name = f.Name;
        Geometry = f.Kind.IsEuclidean ? FlowGeometry.Euclidean : f.Kind.IsNormalized ? FlowGeometry.Normalized : FlowGeometry.Geometric;
        Model = f.Model.IsRt ? VelocityModelKind.RelationalTransformer : f.Model.IsPna ? VelocityModelKind.Pna : VelocityModelKind.Mlp;
        Iterations = f.Iterations;
        BatchSize = f.BatchSize;
        Path = f.Path;
        TrainingSeconds = f.TrainingSeconds is { } t ? t.Value : null;
        FinalLoss = f.FinalLoss;
        SamplesPath = f.SamplesPath;
        SamplingSeconds = f.SamplingSeconds is { } s ? s.Value : null;
        NonFinite = f.NonFinite;
    }

    /// <summary>The flow's name in tables and file names ("Euclidean", "Normalized", "Geometric", "Euclidean MLP").</summary>
    public string Name { get; }
    /// <summary>The flow's space.</summary>
    public FlowGeometry Geometry { get; }
    /// <summary>The velocity model.</summary>
    public VelocityModelKind Model { get; }
    /// <summary>Training steps.</summary>
    public int Iterations { get; }
    /// <summary>Networks per step.</summary>
    public int BatchSize { get; }
    /// <summary>The flow file (<see cref="WeightFlowModel.Load"/> reads it).</summary>
    public string Path { get; }
    /// <summary>Wall-clock seconds of training; null when the flow of an earlier run was reused.</summary>
    public double? TrainingSeconds { get; }
    /// <summary>Mean loss of the last 50 steps.</summary>
    public double FinalLoss { get; }
    /// <summary>The samples file (<see cref="NetworkPopulation.Load"/> reads it).</summary>
    public string SamplesPath { get; }
    /// <summary>Wall-clock seconds of sampling; null when reused.</summary>
    public double? SamplingSeconds { get; }
    /// <summary>Samples dropped as non-finite.</summary>
    public int NonFinite { get; }
}

/// <summary>What <see cref="Pipeline.RunAsync"/> produced: the files of every stage and the figures of its tables.</summary>
public sealed class PipelineReport
{
    internal PipelineReport(WeightFlow.MainJobResult r)
    {
        ZooPath = r.ZooPath;
        AlignedZooPath = r.AlignedPath;
        BarriersPath = r.BarriersPath;
        ReportPath = r.ReportPath;
        Figures = r.Figures.ToArray();
        ZooTrainingSeconds = r.TrainingSeconds is { } t ? t.Value : null;
        AlignSeconds = r.AlignSeconds is { } a ? a.Value : null;
        FinalTestAccuracyMean = ZooSummaryModule.ofZoo(r.Zoo).FinalAccuracyMean;
        var before = Barrier.summarize(r.Before);
        var after = Barrier.summarize(r.After);
        MidpointLossUnaligned = before.Midpoint.Item1;
        MidpointLossAligned = after.Midpoint.Item1;
        RelativeBarrierUnaligned = before.Relative.Item1;
        RelativeBarrierAligned = after.Relative.Item1;
        Flows = r.Flows.Select(f => new PipelineFlow(f)).ToArray();
        Tables = r.Tables.Select(t => new QualityTable(t)).ToArray();
        ReusedStages = r.Reused.Select(MainJob.stageName).ToArray();
    }

    /// <summary>The zoo file.</summary>
    public string ZooPath { get; }
    /// <summary>The aligned zoo file.</summary>
    public string AlignedZooPath { get; }
    /// <summary>The barriers file.</summary>
    public string BarriersPath { get; }
    /// <summary>report.md, with the tables and figures.</summary>
    public string ReportPath { get; }
    /// <summary>The PNG figures the job wrote.</summary>
    public IReadOnlyList<string> Figures { get; }
    /// <summary>Wall-clock seconds of zoo training; null when the zoo of an earlier run was reused.</summary>
    public double? ZooTrainingSeconds { get; }
    /// <summary>Wall-clock seconds of alignment; null when reused.</summary>
    public double? AlignSeconds { get; }
    /// <summary>Mean test accuracy of the final checkpoint of each run.</summary>
    public double FinalTestAccuracyMean { get; }
    /// <summary>Mean midpoint loss over the pairs, before alignment.</summary>
    public double MidpointLossUnaligned { get; }
    /// <summary>Mean midpoint loss over the same pairs, after alignment.</summary>
    public double MidpointLossAligned { get; }
    /// <summary>Mean relative barrier before alignment.</summary>
    public double RelativeBarrierUnaligned { get; }
    /// <summary>Mean relative barrier after alignment.</summary>
    public double RelativeBarrierAligned { get; }
    /// <summary>The flows trained and sampled (empty with <see cref="PipelineOptions.Flows"/> false).</summary>
    public IReadOnlyList<PipelineFlow> Flows { get; }
    /// <summary>One quality table per space (empty without flows).</summary>
    public IReadOnlyList<QualityTable> Tables { get; }
    /// <summary>The stages ("zoo", "align", ...) read back from an earlier run instead of computed.</summary>
    public IReadOnlyList<string> ReusedStages { get; }
}

/// <summary>The main job, <c>weightflow run</c>, as one call: the core's <c>MainJob.run</c> (zoo, alignment, barriers,
/// canonicalization, the three flows and the MLP baseline, samples, evaluation beside the baselines, report.md).</summary>
public static class Pipeline
{
    /// <summary>Runs the main job on a dedicated thread.</summary>
    /// <param name="options">The job's options; validated first.</param>
    /// <param name="progress">Stage progress (on the job's thread).</param>
    /// <param name="cancellationToken">Stops the job between steps; running it again resumes from the finished stages
    /// and the interrupted stage's training state.</param>
    /// <returns>The typed report.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the exception names it).</exception>
    public static System.Threading.Tasks.Task<PipelineReport> RunAsync(PipelineOptions options, IProgress<MainJobProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Fs.Run(() =>
        {
            Fs.EnsureLoaded();
            var preset = options.Preset == PipelinePreset.Full ? MainJobPreset.Full : MainJobPreset.Quick;
            var c0 = MainJobConfigModule.forTask(options.Task.ToCore(), preset, options.Seed, options.OutDir);
            var c1 = options.Iterations is int n ? MainJobConfigModule.withIterations(n, c0) : c0;
            var c2 = options.Samples is int count ? MainJobConfigModule.withSamples(count, c1) : c1;
            // every flow at that τ (the flows' own temperatures cleared), as `weightflow run --temperature`
            var c = options.SamplingTemperature is double tau ? MainJobConfigModule.withTemperature(tau, c2) : c2;
            var z = c.Zoo;
            var epochs = options.Epochs ?? z.Epochs;
            var runs = options.Runs ?? z.Runs;
            var zoo = new ZooConfig(layout: z.Layout, runs: runs, epochs: epochs, batchSize: z.BatchSize, initStd: z.InitStd,
                optimizer: z.Optimizer, dropEpochs: Math.Min(z.DropEpochs, epochs - 1), every: z.Every, seed: z.Seed);
            var flows = !options.Flows ? Microsoft.FSharp.Collections.FSharpList<FlowRun>.Empty : c.Flows;
            var sampling = options.SamplingSteps is not null
                ? new SamplingConfig(count: c.Sampling.Count, steps: options.SamplingSteps ?? c.Sampling.Steps, method: c.Sampling.Method, rule: c.Sampling.Rule,
                    noise: c.Sampling.Noise, guidance: c.Sampling.Guidance, layout: c.Sampling.Layout, batchSize: c.Sampling.BatchSize,
                    temperature: c.Sampling.Temperature, seed: c.Sampling.Seed)
                : c.Sampling;
            var held = options.HeldOutRuns ?? Math.Max(2, runs / 10);
            var config = new MainJobConfig(task: c.Task, zoo: zoo, alignment: c.Alignment, pairs: options.Pairs, points: c.Points,
                seed: c.Seed, outDir: c.OutDir, flows: flows, heldOutRuns: held, sampling: sampling, evaluation: c.Evaluation,
                flowThreads: c.FlowThreads, parallelFlows: c.ParallelFlows, preset: c.Preset, derivation: c.Derivation,
                fullCovarianceBaseline: c.FullCovarianceBaseline, gaussianTemperatures: c.GaussianTemperatures);
            var report = Fs.Action<WeightFlow.MainJobProgress>(p =>
                progress?.Report(new MainJobProgress(MainJob.stageName(p.Stage), p.Done, p.Total)));
            var r = MainJob.run(config, report, cancellationToken);
            try { return new PipelineReport(r); }
            finally
            {
                r.Zoo.Theta.Dispose();
                r.Aligned.Theta.Dispose();
            }
        }, cancellationToken);
    }
}
