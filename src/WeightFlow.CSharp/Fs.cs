using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;

namespace WeightFlow.CSharp;

/// <summary>Conversions to the F# core's types; internal so that none reaches a public signature.</summary>
internal static class Fs
{
    public static FSharpOption<T> Ref<T>(T? value) where T : class => value is null ? FSharpOption<T>.None : FSharpOption<T>.Some(value);
    public static FSharpOption<T> Val<T>(T? value) where T : struct => value is T v ? FSharpOption<T>.Some(v) : FSharpOption<T>.None;
    public static FSharpFunc<T, Unit> Action<T>(Action<T> f) => FuncConvert.FromAction(f);
    public static FSharpList<T> List<T>(IEnumerable<T> items) => ListModule.OfSeq(items);

    public static FSharpList<Tuple<string, string>> Pairs(IEnumerable<KeyValuePair<string, string>> entries) =>
        ListModule.OfSeq(entries.Select(kv => Tuple.Create(kv.Key, kv.Value)));

    /// <summary>Runs a long call on its own thread (libtorch work must not block the thread pool), with the core's
    /// errors as <see cref="WeightFlowException"/>s.</summary>
    public static System.Threading.Tasks.Task<T> Run<T>(Func<T> body, CancellationToken ct) =>
        System.Threading.Tasks.Task.Factory.StartNew(() => Guard(body), ct, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>Runs a call with the core's errors translated into <see cref="WeightFlowException"/>s.</summary>
    public static T Guard<T>(Func<T> body)
    {
        try { return body(); }
        catch (WeightFlow.Engine.EngineError e)
        {
            var kind = e.Data0.StartsWith("Device", StringComparison.Ordinal) ? WeightFlowErrorKind.Device : WeightFlowErrorKind.NativeLibraries;
            throw new WeightFlowException(kind, e.Data0, e);
        }
    }

    /// <summary>Loads libtorch (<c>Engine.ensureLoaded</c>); a missing native library becomes a
    /// <see cref="WeightFlowException"/> naming the package to add.</summary>
    public static void EnsureLoaded() => Guard(() => { WeightFlow.Engine.ensureLoaded(); return 0; });
}
