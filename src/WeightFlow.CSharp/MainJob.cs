using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>Options for the main job (<c>weightflow run</c>): the thesis' UCI zoo, its alignment by weight matching
/// and loss barriers before and after (thesis §7.2).</summary>
public sealed class MainJobOptions
{
    /// <summary>Results folder; finished stages found there are read back instead of recomputed.</summary>
    public string OutDir { get; init; } = System.IO.Path.Combine("results", "run");
    /// <summary>Seed of the zoo and of the barrier pairs.</summary>
    public long Seed { get; init; }
    /// <summary>Independent runs in the zoo; null takes the thesis' 100.</summary>
    public int? Runs { get; init; }
    /// <summary>Training epochs; null takes the thesis' 50.</summary>
    public int? Epochs { get; init; }
    /// <summary>Random checkpoint pairs per barrier measurement (the thesis: 250).</summary>
    public int Pairs { get; init; } = 250;
    /// <summary>Train, sample and evaluate the three flows and the MLP baseline beside the baselines (the whole main
    /// job, as <c>weightflow run</c>); false stops after the barriers.</summary>
    public bool Flows { get; init; } = true;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(OutDir)) throw new ArgumentOutOfRangeException(nameof(OutDir), "OutDir must name a folder.");
        if (Runs is < 1) throw new ArgumentOutOfRangeException(nameof(Runs), Runs, "Runs must be at least 1.");
        if (Epochs is < 2) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 2.");
        if (Pairs < 1) throw new ArgumentOutOfRangeException(nameof(Pairs), Pairs, "Pairs must be at least 1.");
    }
}

/// <summary>Progress of the main job.</summary>
/// <param name="Stage">"zoo", "align", "barriers", "canonicalize", "flow:NAME", "samples:NAME" or "evaluate".</param>
/// <param name="Done">Units done in this stage (iterations, networks, measurements).</param>
/// <param name="Total">Units in this stage.</param>
public sealed record MainJobProgress(string Stage, int Done, int Total);

/// <summary>What the main job produced: its files and the figures of its tables.</summary>
/// <param name="ZooPath">The zoo file.</param>
/// <param name="AlignedZooPath">The aligned zoo file.</param>
/// <param name="BarriersPath">The barriers file.</param>
/// <param name="FinalTestAccuracyMean">Mean test accuracy of the final checkpoint of each run.</param>
/// <param name="MidpointLossUnaligned">Mean midpoint loss over the pairs, before alignment.</param>
/// <param name="MidpointLossAligned">Mean midpoint loss over the same pairs, after alignment.</param>
/// <param name="RelativeBarrierUnaligned">Mean relative barrier before alignment.</param>
/// <param name="RelativeBarrierAligned">Mean relative barrier after alignment.</param>
/// <param name="ReportPath">report.md, with the quality tables and figures.</param>
public sealed record MainJobResult(string ZooPath, string AlignedZooPath, string BarriersPath, double FinalTestAccuracyMean,
    double MidpointLossUnaligned, double MidpointLossAligned, double RelativeBarrierUnaligned, double RelativeBarrierAligned,
    string ReportPath);

/// <summary>The main job, the same core function (<c>MainJob.run</c>) the CLI renders.</summary>
public static class WeightFlowMainJob
{
    /// <summary>Runs the main job on a dedicated thread.</summary>
    public static System.Threading.Tasks.Task<MainJobResult> RunAsync(MainJobOptions options, IProgress<MainJobProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return Fs.Run(() =>
        {
            Fs.EnsureLoaded();
            var uci = MainJobConfigModule.uci(options.Seed, options.OutDir);
            var epochs = options.Epochs ?? uci.Zoo.Epochs;
            var zoo = new ZooConfig(uci.Zoo.Layout, options.Runs ?? uci.Zoo.Runs, epochs, uci.Zoo.BatchSize, uci.Zoo.InitStd,
                uci.Zoo.Optimizer, Math.Min(uci.Zoo.DropEpochs, epochs - 1), uci.Zoo.Every, uci.Zoo.Seed);
            var flows = options.Flows ? uci.Flows : Microsoft.FSharp.Collections.FSharpList<FlowRun>.Empty;
            var config = new MainJobConfig(uci.Task, zoo, uci.Alignment, options.Pairs, uci.Points, uci.Seed, uci.OutDir,
                flows, uci.HeldOutRuns, uci.Sampling, uci.Evaluation, uci.Preset);
            var report = Microsoft.FSharp.Core.FuncConvert.FromAction<WeightFlow.MainJobProgress>(p =>
                progress?.Report(new MainJobProgress(MainJob.stageName(p.Stage), p.Done, p.Total)));
            var r = MainJob.run(config, report, cancellationToken);
            try
            {
                var before = Barrier.summarize(r.Before);
                var after = Barrier.summarize(r.After);
                return new MainJobResult(r.ZooPath, r.AlignedPath, r.BarriersPath, ZooSummaryModule.ofZoo(r.Zoo).FinalAccuracyMean,
                    before.Midpoint.Item1, after.Midpoint.Item1, before.Relative.Item1, after.Relative.Item1, r.ReportPath);
            }
            finally
            {
                r.Zoo.Theta.Dispose();
                r.Aligned.Theta.Dispose();
            }
        }, cancellationToken);
    }
}
