namespace WeightFlow.CSharp;

/// <summary>The class of problem a <see cref="WeightFlowException"/> reports.</summary>
public enum WeightFlowErrorKind
{
    /// <summary>libtorch's natives could not be loaded (missing from the application, or the wrong system); the
    /// message names the package to add.</summary>
    NativeLibraries,
    /// <summary>A device that this build or machine does not have (e.g. CUDA in a CPU build).</summary>
    Device,
}

/// <summary>An error of WeightFlow itself (not a bug): <see cref="Exception.Message"/> is one line naming the problem
/// and the fix. Invalid options are <see cref="ArgumentOutOfRangeException"/>s instead.</summary>
public sealed class WeightFlowException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="kind">The class of problem.</param>
    /// <param name="message">One line: the problem and the fix.</param>
    /// <param name="inner">The core's exception.</param>
    public WeightFlowException(WeightFlowErrorKind kind, string message, Exception? inner = null) : base(message, inner) => Kind = kind;

    /// <summary>The class of problem.</summary>
    public WeightFlowErrorKind Kind { get; }
}
