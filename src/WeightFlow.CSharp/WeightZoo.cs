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
        return System.Threading.Tasks.Task.Factory.StartNew(() =>
        {
            Engine.ensureLoaded();
            var data = Sources.load(task, options.Seed);
            var preset = ZooConfigModule.forTask(task, data);
            var layout = options.Layout is null ? preset.Layout : LayoutModule.parse(options.Layout);
            var epochs = options.Epochs ?? preset.Epochs;
            var config = new ZooConfig(layout, options.Runs ?? preset.Runs, epochs, preset.BatchSize, preset.InitStd,
                preset.Optimizer, Math.Min(preset.DropEpochs, epochs - 1), preset.Every, options.Seed);
            var report = Microsoft.FSharp.Core.FuncConvert.FromAction<ZooProgress>(p =>
                progress?.Report(new ZooTrainingProgress(p.Iteration, p.Total, p.Epoch, p.Loss)));
            return new WeightZoo(ZooModule.train(config, task, data, report, cancellationToken));
        }, cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
    }

    /// <summary>Loads a zoo file written by <see cref="Save"/> or <c>weightflow zoo</c>.</summary>
    public static WeightZoo Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Engine.ensureLoaded();
        return new WeightZoo(ZooModule.load(path));
    }

    /// <summary>Writes the zoo as a safetensors file (atomically).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ZooModule.save(path, Core);
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

    /// <summary>Releases the native tensor memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _zoo.Theta.Dispose();
    }
}
