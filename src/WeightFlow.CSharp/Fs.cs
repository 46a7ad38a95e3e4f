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
        catch (WeightFlow.Check.WeightFlowError e)
        {
            throw new WeightFlowException(KindOf(e.Kind), e.Text, e);
        }
    }

    /// <summary>The facade's kind of a core error kind (same names).</summary>
    public static WeightFlowErrorKind KindOf(WeightFlow.Check.ErrorKind k) =>
        k.Tag switch
        {
            WeightFlow.Check.ErrorKind.Tags.NotFound => WeightFlowErrorKind.NotFound,
            WeightFlow.Check.ErrorKind.Tags.WrongKind => WeightFlowErrorKind.WrongKind,
            WeightFlow.Check.ErrorKind.Tags.Corrupt => WeightFlowErrorKind.Corrupt,
            WeightFlow.Check.ErrorKind.Tags.InvalidData => WeightFlowErrorKind.InvalidData,
            WeightFlow.Check.ErrorKind.Tags.InvalidOption => WeightFlowErrorKind.InvalidOption,
            WeightFlow.Check.ErrorKind.Tags.Mismatch => WeightFlowErrorKind.Mismatch,
            WeightFlow.Check.ErrorKind.Tags.NonFinite => WeightFlowErrorKind.NonFinite,
            WeightFlow.Check.ErrorKind.Tags.WriteFailed => WeightFlowErrorKind.WriteFailed,
            WeightFlow.Check.ErrorKind.Tags.Busy => WeightFlowErrorKind.Busy,
            _ => throw new ArgumentOutOfRangeException(nameof(k), k, "A core error kind the facade does not know; add it to WeightFlowErrorKind."),
        };

    /// <summary>Runs an action with the core's errors translated (see <see cref="Guard{T}"/>).</summary>
    public static void Guard(Action body) => Guard(() => { body(); return 0; });

    /// <summary>Loads libtorch (<c>Engine.ensureLoaded</c>); a missing native library becomes a
    /// <see cref="WeightFlowException"/> naming the package to add.</summary>
    public static void EnsureLoaded() => Guard(() => { WeightFlow.Engine.ensureLoaded(); return 0; });
}
