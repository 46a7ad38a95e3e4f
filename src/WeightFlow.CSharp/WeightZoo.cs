using System.Threading;
using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>Options for training a zoo of base networks. Defaults are the thesis' UCI settings (appendix A).</summary>
public sealed class ZooOptions
{
    /// <summary>The task. Default <see cref="TrainingTask.Uci"/> (embedded); MNIST and Fashion-MNIST need
    /// <c>weightflow data prepare</c> first.</summary>
    public TrainingTask Task { get; init; } = TrainingTask.Uci;
    /// <summary>MLP widths, e.g. "30-16-16-2"; null takes the task's thesis layout.</summary>
    public string? Layout { get; init; }
    /// <summary>Independent runs trained at once; null takes the task preset (UCI 100, MNIST 50).</summary>
    public int? Runs { get; init; }
    /// <summary>Training epochs; null takes the task preset (UCI 50, MNIST 25).</summary>
    public int? Epochs { get; init; }
    /// <summary>Seed for the data split, initialisations and minibatch orders.</summary>
    public long Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property.</summary>
    public void Validate()
    {
        if (Task is null) throw new ArgumentOutOfRangeException(nameof(Task), "Task must be a TrainingTask, e.g. TrainingTask.Uci.");
        if (Runs is < 1) throw new ArgumentOutOfRangeException(nameof(Runs), Runs, "Runs must be at least 1.");
        if (Epochs is < 2) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be at least 2.");
    }
}

/// <summary>Progress of zoo training.</summary>
/// <param name="Iteration">Iterations done.</param>
/// <param name="Total">Iterations in all.</param>
/// <param name="Epoch">Current epoch (0-based).</param>
/// <param name="Loss">Mean training loss over runs at this iteration.</param>
public sealed record ZooTrainingProgress(int Iteration, int Total, int Epoch, double Loss);

/// <summary>A zoo of trained networks (checkpoints along R training runs), owning native tensor memory.</summary>
public sealed class WeightZoo : IDisposable
{
    private readonly Zoo _zoo;
    private bool _disposed;

    private WeightZoo(Zoo zoo) => _zoo = zoo;

    internal Zoo Core { get { ThrowIfDisposed(); return _zoo; } }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Trains the zoo as one batched model on a dedicated thread.</summary>
    public static System.Threading.Tasks.Task<WeightZoo> TrainAsync(ZooOptions options, IProgress<ZooTrainingProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var task = options.Task.ToCore();
        return Fs.Run(() =>
        {
            Fs.EnsureLoaded();
            var data = Sources.load(task, options.Seed);
            var preset = ZooConfigModule.forTask(task, data);
            var layout = options.Layout is null ? preset.Layout : LayoutModule.parse(options.Layout);
            var epochs = options.Epochs ?? preset.Epochs;
            var config = new ZooConfig(layout, options.Runs ?? preset.Runs, epochs, preset.BatchSize, preset.InitStd,
                preset.Optimizer, Math.Min(preset.DropEpochs, epochs - 1), preset.Every, options.Seed);
            var report = Microsoft.FSharp.Core.FuncConvert.FromAction<ZooProgress>(p =>
                progress?.Report(new ZooTrainingProgress(p.Iteration, p.Total, p.Epoch, p.Loss)));
            return new WeightZoo(ZooModule.train(config, task, data, report, cancellationToken));
        }, cancellationToken);
    }

    /// <summary>Loads a zoo file written by <see cref="Save"/> or <c>weightflow zoo</c>.</summary>
    public static WeightZoo Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Fs.EnsureLoaded();
        return new WeightZoo(Fs.Guard(() => ZooModule.load(path)));
    }

    /// <summary>Writes the zoo as a safetensors file (atomically).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var zoo = Core;
        Fs.Guard(() => ZooModule.save(path, zoo));
    }

    /// <summary>The MLP layout, e.g. "30-16-16-2".</summary>
    public string Layout => Core.Layout.ToString();

    /// <summary>The task the zoo was trained on.</summary>
    public TrainingTask Task => TrainingTask.OfCore(Core.Task);

    /// <summary>The zoo's seed, which also seeded its data split (pass it as the split seed when evaluating).</summary>
    public long Seed => Core.Config.Seed;

    /// <summary>Number of checkpoints.</summary>
    public int Count => ZooModule.count(Core);

    /// <summary>Number of parameters per network.</summary>
    public int ParameterCount => LayoutModule.paramCount(Core.Layout);

    /// <summary>Test accuracy of every checkpoint when it was recorded.</summary>
    public IReadOnlyList<float> TestAccuracy => Core.TestAccuracy;

    /// <summary>Run id of every checkpoint.</summary>
    public IReadOnlyList<int> Run => Core.Run;

    /// <summary>Mean test accuracy of the final checkpoint of each run.</summary>
    public double FinalTestAccuracyMean => ZooSummaryModule.ofZoo(Core).FinalAccuracyMean;

    /// <summary>Flat weights of checkpoint <paramref name="index"/>, in the layout's documented order.</summary>
    public float[] Weights(int index)
    {
        ThrowIfDisposed();
        if (index < 0 || index >= Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"Index must lie in [0, {Count}).");
        using var row = _zoo.Theta[index];
        return row.data<float>().ToArray();
    }

    /// <summary>The zoo's checkpoints as a population (a copy of their weights), to evaluate or export them as
    /// sampled networks are.</summary>
    /// <returns>A population of <see cref="Count"/> networks; dispose it as well.</returns>
    public NetworkPopulation ToPopulation()
    {
        var zoo = Core;
        var header = new Dictionary<string, string> { ["space"] = "raw", ["source"] = "zoo" };
        return new NetworkPopulation(zoo.Layout, zoo.Theta.detach().cpu().to_type(TorchSharp.torch.float32).clone(), header, 0);
    }

    /// <summary>Aligns every checkpoint to the zoo's reference network (its first stored checkpoint) by re-basin, on a
    /// dedicated thread: the core's <c>ZooAlignment.align</c>, as <c>weightflow align</c>. Every network keeps its
    /// function (only hidden neurons are permuted).</summary>
    /// <param name="method">The re-basin method; weight matching by default.</param>
    /// <param name="progress">Networks aligned, after each chunk (on the aligning thread).</param>
    /// <param name="cancellationToken">Cancels before the work starts or between chunks.</param>
    /// <returns>A new zoo with the aligned weights (same runs, steps and task); dispose it as well.</returns>
    public System.Threading.Tasks.Task<WeightZoo> AlignAsync(AlignmentMethod method = AlignmentMethod.WeightMatching,
        IProgress<AlignmentProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var core = method switch
        {
            AlignmentMethod.WeightMatching => WeightFlow.AlignmentMethod.WeightMatching,
            AlignmentMethod.SinkhornL2 => WeightFlow.AlignmentMethod.SinkhornL2,
            AlignmentMethod.SinkhornMid => WeightFlow.AlignmentMethod.SinkhornMid,
            AlignmentMethod.SinkhornRnd => WeightFlow.AlignmentMethod.SinkhornRnd,
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, "Unknown alignment method."),
        };
        return Fs.Run(() =>
        {
            var zoo = Core;
            var rebasin = ZooAlignment.rebasin(core, zoo);
            var report = Microsoft.FSharp.Core.FuncConvert.FromAction<int, int>((done, total) =>
            {
                progress?.Report(new AlignmentProgress(done, total));
                cancellationToken.ThrowIfCancellationRequested();
            });
            var aligned = ZooAlignment.align(report, rebasin, zoo);
            return new WeightZoo(ZooModule.withTheta(zoo, aligned));
        }, cancellationToken);
    }

    /// <summary>Mean squared distance ‖θ_ref − θ‖² of the checkpoints to the reference network (the first stored
    /// checkpoint); alignment lowers it (<c>weightflow align</c> prints it before and after).</summary>
    public double MeanSquaredDistanceToReference
    {
        get
        {
            var zoo = Core;
            return ZooAlignment.meanSquaredDistance(ZooAlignment.reference(zoo), zoo.Theta);
        }
    }

    /// <summary>Canonicalizes every checkpoint (thesis §4.4, §6.2.2: each hidden neuron's incoming weights scaled to
    /// unit norm, the scale pushed into the next layer, then the last layer scaled to <paramref name="lastLayer"/>):
    /// the core's <c>Canonical.canonicalize</c>, the space of the Normalized and Geometric flows. Predictions' argmax
    /// (and so accuracy) is unchanged; with a scaled last layer the logits are multiplied by one positive factor.</summary>
    /// <param name="lastLayer">The last layer's norm; <see cref="LastLayerNorm.UnitNorm"/> by default (the flows').</param>
    /// <returns>A new zoo with the canonical weights; dispose it as well.</returns>
    public WeightZoo Canonicalize(LastLayerNorm lastLayer = LastLayerNorm.UnitNorm)
    {
        var zoo = Core;
        var norm = lastLayer switch
        {
            LastLayerNorm.UnitNorm => WeightFlow.Canonical.LastLayerNorm.UnitNorm,
            LastLayerNorm.SqrtClasses => WeightFlow.Canonical.LastLayerNorm.SqrtClasses,
            LastLayerNorm.Unscaled => WeightFlow.Canonical.LastLayerNorm.Unscaled,
            _ => throw new ArgumentOutOfRangeException(nameof(lastLayer), lastLayer, "Unknown last-layer norm."),
        };
        using var noGrad = TorchSharp.torch.no_grad();
        var theta = WeightFlow.Canonical.canonicalize(new WeightFlow.Canonical.CanonicalConfig(norm), zoo.Layout, zoo.Theta);
        return new WeightZoo(ZooModule.withTheta(zoo, theta));
    }

    /// <summary>Loss barriers between <paramref name="pairs"/> random pairs of checkpoints (thesis Fig. 7.2) on the
    /// training split of the zoo's task, on a dedicated thread: the core's <c>Barrier.ofZoo</c>, as
    /// <c>weightflow barrier</c>. The same seed draws the same pairs in an aligned copy of the zoo, so before and
    /// after alignment compare pair by pair.</summary>
    /// <param name="pairs">Random pairs; the thesis uses 250. At least 1.</param>
    /// <param name="points">Points along each path, odd and at least 3 (the endpoints and the midpoint among them).</param>
    /// <param name="seed">Seeds the pair draw.</param>
    /// <param name="cancellationToken">Cancels before the work starts.</param>
    public System.Threading.Tasks.Task<BarrierSummary> BarriersAsync(int pairs = 250, int points = 3, long seed = 0,
        CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        if (pairs < 1) throw new ArgumentOutOfRangeException(nameof(pairs), pairs, "pairs must be at least 1.");
        if (points < 3 || points % 2 == 0) throw new ArgumentOutOfRangeException(nameof(points), points, "points must be odd and at least 3 (the endpoints and the midpoint).");
        return Fs.Run(() =>
        {
            var b = Barrier.ofZoo(pairs, points, seed, Core);
            try { return new BarrierSummary(pairs, points, b); }
            finally
            {
                b.Times.Dispose(); b.Losses.Dispose(); b.Midpoint.Dispose(); b.Relative.Dispose(); b.Maximum.Dispose();
            }
        }, cancellationToken);
    }

    /// <summary>Releases the native tensor memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _zoo.Theta.Dispose();
    }
}
