using TorchSharp;
using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>How a zoo's checkpoints are aligned to its reference network (re-basin, thesis §4.3).</summary>
public enum AlignmentMethod
{
    /// <summary>Weight matching (Ainsworth et al. 2023), the default: fast, data-free.</summary>
    WeightMatching,
    /// <summary>Sinkhorn re-basin on the squared weight distance to the reference (thesis eq. 4.4).</summary>
    SinkhornL2,
    /// <summary>Sinkhorn re-basin on the training loss at the midpoint of the linear path (eq. 4.5).</summary>
    SinkhornMid,
    /// <summary>Sinkhorn re-basin on the training loss at a random point of the linear path (eq. 4.6).</summary>
    SinkhornRnd,
}

/// <summary>Progress of an alignment: networks aligned so far (reported after each chunk).</summary>
/// <param name="Done">Networks aligned.</param>
/// <param name="Total">Networks in the zoo.</param>
public sealed record AlignmentProgress(int Done, int Total);

/// <summary>The last layer's norm after canonicalization (thesis §6.2.2, (C.3)).</summary>
public enum LastLayerNorm
{
    /// <summary>Frobenius norm 1 (the default; the space of the Normalized and Geometric flows).</summary>
    UnitNorm,
    /// <summary>Frobenius norm √C for C classes (the thesis' background text, §4.4).</summary>
    SqrtClasses,
    /// <summary>The last layer is left unscaled (only the hidden neurons are normalized).</summary>
    Unscaled,
}

/// <summary>Loss barriers along linear paths between random pairs of checkpoints (thesis Fig. 7.2), on the training
/// split of the zoo's task: the core's <c>Barrier.ofZoo</c>, as <c>weightflow barrier</c>. Per-pair figures are
/// arrays in pair order; the summaries are mean and sample standard deviation over the pairs.</summary>
public sealed class BarrierSummary
{
    internal BarrierSummary(int pairs, int points, Barrier.Barriers b)
    {
        Pairs = pairs;
        Points = points;
        var s = Barrier.summarize(b);
        (MidpointMean, MidpointStd) = (s.Midpoint.Item1, s.Midpoint.Item2);
        (EndpointsMean, EndpointsStd) = (s.Endpoints.Item1, s.Endpoints.Item2);
        (RelativeMean, RelativeStd) = (s.Relative.Item1, s.Relative.Item2);
        (MaximumMean, MaximumStd) = (s.Maximum.Item1, s.Maximum.Item2);
        Midpoint = ToArray(b.Midpoint);
        Relative = ToArray(b.Relative);
    }

    private static float[] ToArray(torch.Tensor t)
    {
        using var c = t.detach().cpu().to_type(torch.float32);
        return c.data<float>().ToArray();
    }

    /// <summary>Pairs measured.</summary>
    public int Pairs { get; }
    /// <summary>Points along each path (the endpoints and the midpoint among them).</summary>
    public int Points { get; }
    /// <summary>Mean cross-entropy at the midpoint L(½).</summary>
    public double MidpointMean { get; }
    /// <summary>Standard deviation of the midpoint loss over the pairs.</summary>
    public double MidpointStd { get; }
    /// <summary>Mean of the endpoints' mean loss (L(0) + L(1)) / 2.</summary>
    public double EndpointsMean { get; }
    /// <summary>Its standard deviation over the pairs.</summary>
    public double EndpointsStd { get; }
    /// <summary>Mean relative barrier L(½) − (L(0) + L(1)) / 2.</summary>
    public double RelativeMean { get; }
    /// <summary>Its standard deviation over the pairs.</summary>
    public double RelativeStd { get; }
    /// <summary>Mean of the largest barrier over the path's points.</summary>
    public double MaximumMean { get; }
    /// <summary>Its standard deviation over the pairs.</summary>
    public double MaximumStd { get; }
    /// <summary>The midpoint loss of each pair.</summary>
    public IReadOnlyList<float> Midpoint { get; }
    /// <summary>The relative barrier of each pair.</summary>
    public IReadOnlyList<float> Relative { get; }
}
