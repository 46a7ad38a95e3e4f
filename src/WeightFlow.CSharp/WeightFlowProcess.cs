using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>
/// Process-wide settings. Loading WeightFlow changes none of them; an application that wants the measured settings
/// of the <c>weightflow</c> tool (a bounded OpenMP spin, glibc keeping freed memory, the fused attention kernels)
/// calls <see cref="ConfigureTuned"/> once, before any other WeightFlow call.
/// </summary>
public static class WeightFlowProcess
{
    /// <summary>Applies the tuned settings and loads libtorch (Engine.configureProcess with ProcessSettings.tuned).
    /// The host's own OMP_WAIT_POLICY / GOMP_SPINCOUNT and MALLOC_* / GLIBC_TUNABLES settings still win.</summary>
    /// <param name="threads">Intra-op threads; null keeps libtorch's default (the machine's cores).</param>
    /// <exception cref="InvalidOperationException">libtorch was already loaded by an earlier WeightFlow call.</exception>
    /// <exception cref="WeightFlowException">libtorch's natives could not be loaded (the message names the package).</exception>
    public static void ConfigureTuned(int? threads = null)
    {
        if (threads is < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "Threads must be at least 1.");
        var tuned = Engine.ProcessSettingsModule.tuned;
        var settings = new Engine.ProcessSettings(tuned.OpenMpSpinCount, tuned.Allocator,
            threads is int n ? Microsoft.FSharp.Core.FSharpOption<int>.Some(n) : Microsoft.FSharp.Core.FSharpOption<int>.None,
            tuned.Attention);
        Fs.Guard(() => { Engine.configureProcess(settings); return 0; });
    }
}
