using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>A classification task: the data a zoo trains on, a population is evaluated on or guidance uses.
/// Use <see cref="Uci"/>, <see cref="Mnist"/>, <see cref="FashionMnist"/> or <see cref="Csv"/>.</summary>
public sealed class TrainingTask : IEquatable<TrainingTask>
{
    private TrainingTask(string name) => Name = name;

    /// <summary>The task's name as the CLI writes it: "uci", "mnist", "fashion-mnist" or "csv:PATH".</summary>
    public string Name { get; }

    /// <summary>The embedded UCI breast-cancer data set (the thesis' main task; 30 features, 2 classes).</summary>
    public static TrainingTask Uci { get; } = new("uci");

    /// <summary>MNIST (after <c>weightflow data prepare mnist</c>).</summary>
    public static TrainingTask Mnist { get; } = new("mnist");

    /// <summary>Fashion-MNIST (after <c>weightflow data prepare fashion-mnist</c>).</summary>
    public static TrainingTask FashionMnist { get; } = new("fashion-mnist");

    /// <summary>A CSV file: numeric feature columns and an integer class label in the last column.</summary>
    /// <param name="path">The CSV file.</param>
    public static TrainingTask Csv(string path)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new ArgumentException("A CSV task needs the file's path.", nameof(path));
        return new("csv:" + path);
    }

    /// <summary>Parses a name as the CLI takes it ("uci", "mnist", "fashion-mnist", "csv:PATH").</summary>
    /// <param name="name">The task's name.</param>
    public static TrainingTask Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return new(TaskModule.name(TaskModule.parse(name)));
    }

    internal WeightFlow.Task ToCore() => TaskModule.parse(Name);

    internal static TrainingTask OfCore(WeightFlow.Task task) => new(TaskModule.name(task));

    internal Dataset Load(long splitSeed)
    {
        Fs.EnsureLoaded();
        return Fs.Guard(() => Sources.load(ToCore(), splitSeed));
    }

    /// <inheritdoc/>
    public bool Equals(TrainingTask? other) => other is not null && other.Name == Name;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TrainingTask);

    /// <inheritdoc/>
    public override int GetHashCode() => Name.GetHashCode(StringComparison.Ordinal);

    /// <summary>The task's name.</summary>
    public override string ToString() => Name;
}
