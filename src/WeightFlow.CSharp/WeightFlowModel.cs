using TorchSharp;
using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>A trained flow over network weights (its EMA model), owning native tensor memory. Train one with
/// <see cref="TrainAsync"/> or read one with <see cref="Load"/>; draw networks with <see cref="SampleAsync"/>.</summary>
public sealed class WeightFlowModel : IDisposable
{
    private readonly Flow _flow;
    private readonly Dictionary<string, string> _header;
    private bool _disposed;

    private WeightFlowModel(Flow flow, Dictionary<string, string> header, double[] losses, int[] heldOutRuns)
    {
        _flow = flow;
        _header = header;
        Losses = losses;
        HeldOutRuns = heldOutRuns;
    }

    /// <summary>Trains a flow on a zoo's checkpoints (minus <see cref="FlowTrainingOptions.HeldOutRuns"/> runs) on a
    /// dedicated thread: the core's <c>Training.train</c>, as <c>weightflow train</c>.</summary>
    /// <param name="zoo">The zoo whose checkpoints are the targets (raw weights; the flow maps them into its space).</param>
    /// <param name="options">Training options; validated first.</param>
    /// <param name="progress">Reported after every step (on the training thread).</param>
    /// <param name="cancellationToken">Stops training after the current step; with a checkpoint path, the checkpoint
    /// then holds every finished step and a later call with the same options resumes it.</param>
    /// <returns>The trained flow.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the exception names it).</exception>
    /// <exception cref="OperationCanceledException">Training was cancelled.</exception>
    /// <exception cref="WeightFlowException">Of kind <see cref="WeightFlowErrorKind.NonFinite"/>: the loss or a gradient
    /// became non-finite (training stopped at that step; the last good checkpoint is kept). Other kinds: a checkpoint
    /// that another run holds (Busy), that cannot be written (WriteFailed) or read (Corrupt).</exception>
    public static System.Threading.Tasks.Task<WeightFlowModel> TrainAsync(WeightZoo zoo, FlowTrainingOptions options,
        IProgress<FlowTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(zoo);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var core = zoo.Core;
        var runs = core.Run.Distinct().Count();
        if (options.HeldOutRuns >= runs)
            throw FlowTrainingOptions.Bad(nameof(options.HeldOutRuns), options.HeldOutRuns, $"HeldOutRuns must be fewer than the zoo's {runs} runs (at least one run trains the flow).");
        var config = options.ToCore();
        return Fs.Run(() =>
        {
            var device = Engine.device(options.Device);
            var split = Holdout.lastRuns(options.HeldOutRuns, core);
            try
            {
                using var targets = split.Train.to(device);
                var report = Fs.Action<TrainingProgress>(p => progress?.Report(new FlowTrainingProgress(p.Step, p.Total, p.Loss, p.IterationsPerSecond)));
                var result = Training.train(config, core.Layout, targets, Fs.Ref(options.CheckpointPath), report, cancellationToken);
                if (result.Outcome.IsCancelled)
                {
                    Dispose(result.Flow);
                    throw new OperationCanceledException($"Flow training was cancelled after step {((TrainingOutcome.Cancelled)result.Outcome).step}" +
                        (options.CheckpointPath is null ? "." : $"; {options.CheckpointPath} holds it, and training again with the same options resumes it."), cancellationToken);
                }
                if (result.Outcome is TrainingOutcome.Diverged d)
                {
                    Dispose(result.Flow);
                    throw new WeightFlowException(WeightFlowErrorKind.NonFinite, $"The loss or a gradient at step {d.step} is not finite; training stopped" +
                        (options.CheckpointPath is null ? "" : $" (the last good checkpoint is {options.CheckpointPath}, if one was written)") + ". Lower LearningRate or enable ClipNorm.");
                }
                var header = Targets.metadata(split).Concat(TrainingConfigModule.toMetadata(config)).ToDictionary(p => p.Item1, p => p.Item2);
                return new WeightFlowModel(result.Flow, header, result.Losses, split.HeldOutRuns);
            }
            finally
            {
                split.Train.Dispose();
                split.HeldOut.Dispose();
            }
        }, cancellationToken);
    }

    /// <summary>Reads a flow written by <see cref="Save"/> or <c>weightflow train</c>.</summary>
    /// <param name="path">The flow file.</param>
    /// <param name="device">"cpu" (default) or "cuda[:N]" in a CUDA build.</param>
    public static WeightFlowModel Load(string path, string device = "cpu")
    {
        ArgumentNullException.ThrowIfNull(path);
        Fs.EnsureLoaded();
        var flow = Fs.Guard(() => FlowModule.load(Engine.device(device), path));
        var stored = Fs.Guard(() => Storage.read(path));
        foreach (var t in stored.Tensors) t.Item2.Dispose();
        var header = stored.Metadata.Where(kv => kv.Key.StartsWith("train.", StringComparison.Ordinal) || kv.Key == "heldout_runs")
            .ToDictionary(kv => kv.Key, kv => kv.Value);
        var held = header.TryGetValue("heldout_runs", out var h) && h != "" ? ParseRuns(path, h) : [];
        return new WeightFlowModel(flow, header, [], held);
    }

    /// <summary>Writes the flow (its EMA model and settings) atomically; <c>weightflow sample</c> reads it.</summary>
    /// <param name="path">The file to write.</param>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ThrowIfDisposed();
        Fs.Guard(() => FlowModule.saveWith(path, Fs.Pairs(_header), _flow));
    }

    /// <summary>The layout the flow was trained on, e.g. "30-16-16-2".</summary>
    public string Layout { get { ThrowIfDisposed(); return FlowModule.layout(_flow).ToString(); } }

    /// <summary>The flow's space.</summary>
    public FlowGeometry Geometry
    {
        get
        {
            ThrowIfDisposed();
            var k = _flow.Space.Kind;
            return k.IsEuclidean ? FlowGeometry.Euclidean : k.IsNormalized ? FlowGeometry.Normalized : FlowGeometry.Geometric;
        }
    }

    /// <summary>Every training step's loss (including steps before a resume); empty for a loaded flow.</summary>
    public IReadOnlyList<double> Losses { get; }

    /// <summary>The zoo's run ids the flow never saw (for evaluation against unseen networks).</summary>
    public IReadOnlyList<int> HeldOutRuns { get; }

    /// <summary>Samples networks on a dedicated thread: the core's <c>Sampling.sample</c>, as <c>weightflow sample</c>.
    /// Non-finite samples are dropped and counted (<see cref="NetworkPopulation.DroppedNonFinite"/>).</summary>
    /// <param name="options">Sampling options; null takes the defaults.</param>
    /// <param name="progress">Solver steps done across all batches (on the sampling thread).</param>
    /// <param name="cancellationToken">Cancels before sampling starts.</param>
    /// <returns>The sampled networks, on the CPU.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is invalid (the exception names it).</exception>
    public System.Threading.Tasks.Task<NetworkPopulation> SampleAsync(SamplingOptions? options = null, IProgress<int>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        options ??= new SamplingOptions();
        options.Validate();
        return Fs.Run(() =>
        {
            ThrowIfDisposed();
            var config = options.ToCore();
            var device = _flow.Model.Parameters.IsEmpty ? torch.CPU : _flow.Model.Parameters.Head.Item2.device;
            var result = Sampling.sample(config, Fs.Action<int>(k => progress?.Report(k)), device, _flow);
            var kind = _flow.Space.Kind;
            var header = new Dictionary<string, string>
            {
                ["space"] = kind.IsEuclidean ? "raw" : "canonical",
                ["flow.kind"] = FlowKindModule.text(kind),
                ["non_finite_dropped"] = result.NonFinite.Length.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            if (_header.TryGetValue("heldout_runs", out var held)) header["heldout_runs"] = held;
            foreach (var (k, v) in Sampling.metadata(config)) header[k] = v;
            return new NetworkPopulation(result.Layout, result.Theta, header, result.NonFinite.Length);
        }, cancellationToken);
    }

    /// <summary>log p1 of each network under a Euclidean flow (the core's <c>Sampling.logLikelihood</c>, as
    /// <c>weightflow loglik</c>), on a dedicated thread.</summary>
    /// <param name="networks">Networks in the flow's space (raw weights for a Euclidean flow).</param>
    /// <param name="options">Likelihood options; null takes the defaults.</param>
    /// <param name="cancellationToken">Cancels before the computation starts.</param>
    /// <returns>One log-likelihood per network (nats).</returns>
    /// <exception cref="ArgumentException">The flow is not Euclidean (no density on its space).</exception>
    public System.Threading.Tasks.Task<double[]> LogLikelihoodAsync(NetworkPopulation networks, LikelihoodOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(networks);
        ThrowIfDisposed();
        options ??= new LikelihoodOptions();
        options.Validate();
        return Fs.Run(() =>
        {
            ThrowIfDisposed();
            var layout = networks.CoreLayout;
            var p = LayoutModule.paramCount(layout);
            var probes = options.Probes ?? (p <= 64 ? 0 : 8);
            var divergence = probes == 0 ? Divergence.Exact : Divergence.NewHutchinson(probes, Probe.Rademacher);
            var device = _flow.Model.Parameters.Head.Item2.device;
            using var theta = networks.Theta.to(device);
            return Sampling.logLikelihood(divergence, options.Steps, options.Seed, options.BatchSize, _flow, layout, theta);
        }, cancellationToken);
    }

    /// <summary>The held-out run ids of a flow's header ("3,4"); a damaged entry is a Corrupt
    /// <see cref="WeightFlowException"/> naming the file.</summary>
    private static int[] ParseRuns(string path, string text)
    {
        var parts = text.Split(',');
        var runs = new int[parts.Length];
        for (var i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i].Trim(), System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out runs[i]) || runs[i] < 0)
                throw new WeightFlowException(WeightFlowErrorKind.Corrupt,
                    $"{path}: its header entry heldout_runs = '{text}' is not a list of run ids; the file was edited or damaged. Train the flow again.");
        return runs;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    private static void Dispose(Flow flow)
    {
        foreach (var p in flow.Model.Parameters) p.Item2.Dispose();
    }

    /// <summary>Releases the model's native tensor memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Dispose(_flow);
    }
}
