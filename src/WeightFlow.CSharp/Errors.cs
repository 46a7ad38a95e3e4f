namespace WeightFlow.CSharp;

/// <summary>The class of problem a <see cref="WeightFlowException"/> reports.</summary>
public enum WeightFlowErrorKind
{
    /// <summary>libtorch's natives could not be loaded (missing from the application, or the wrong system); the
    /// message names the package to add.</summary>
    NativeLibraries,
    /// <summary>A device that this build or machine does not have (e.g. CUDA in a CPU build).</summary>
    Device,
    /// <summary>A file or task that does not exist.</summary>
    NotFound,
    /// <summary>A file of another kind than expected (a CSV where a zoo is expected, a flow where samples are, ...).</summary>
    WrongKind,
    /// <summary>A file that is truncated, corrupt, lies about its sizes, or has an unknown format version or dtype.</summary>
    Corrupt,
    /// <summary>A data set whose content is unusable (ragged rows, non-numeric cells, NaN, labels, too few rows).</summary>
    InvalidData,
    /// <summary>An option or argument outside its range (checked by the core).</summary>
    InvalidOption,
    /// <summary>Files or objects that do not belong together (a layout the flow, task or data does not have).</summary>
    Mismatch,
    /// <summary>NaN or infinite values where finite ones are required (weights, losses, gradients).</summary>
    NonFinite,
    /// <summary>Writing failed (full disk, file-size limit, permissions); the previous file is intact.</summary>
    WriteFailed,
    /// <summary>Another run holds the output (a lock file).</summary>
    Busy,
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
