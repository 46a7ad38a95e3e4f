using System.Collections.Concurrent;
using WeightFlow.CSharp;
using Xunit;

// libtorch already uses every core; parallel test classes would only contend for them.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace FacadeTests;

/// <summary>Collects progress synchronously (System.Progress posts to the thread pool, so its last report can arrive
/// after the task completes).</summary>
public sealed class Collect<T> : IProgress<T>
{
    private readonly Action<T>? _onReport;
    public Collect(Action<T>? onReport = null) => _onReport = onReport;
    public ConcurrentQueue<T> Items { get; } = new();
    public void Report(T value)
    {
        Items.Enqueue(value);
        _onReport?.Invoke(value);
    }
}

/// <summary>One tiny UCI zoo shared by the tests of a class: 4 runs of 3 epochs (2 checkpoints each).</summary>
public sealed class TinyZoo : IDisposable
{
    public WeightZoo Zoo { get; } = WeightZoo.TrainAsync(new ZooOptions { Runs = 4, Epochs = 3, Seed = 1 }).GetAwaiter().GetResult();
    public void Dispose() => Zoo.Dispose();
}

public static class Temp
{
    public static string File(string stem) => Path.Combine(Path.GetTempPath(), $"wf-cs-{stem}-{Guid.NewGuid():N}.safetensors");
}
