using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>WeightZoo's alignment, canonicalization and barriers (the core functions of <c>weightflow align</c> and
/// <c>weightflow barrier</c>) on the tiny UCI zoo.</summary>
public sealed class ZooGeometryTests : IClassFixture<TinyZoo>
{
    private readonly WeightZoo _zoo;
    public ZooGeometryTests(TinyZoo fixture) => _zoo = fixture.Zoo;

    [Fact]
    public async Task Alignment_moves_networks_towards_the_reference_and_keeps_their_functions()
    {
        var progress = new Collect<AlignmentProgress>();
        using var aligned = await _zoo.AlignAsync(AlignmentMethod.WeightMatching, progress);
        Assert.Equal(_zoo.Count, aligned.Count);
        Assert.Equal(_zoo.Weights(0), aligned.Weights(0)); // the reference is the first checkpoint, left as it is
        // Weight matching never increases the distance to the reference (the identity is one of its candidates) and
        // lowers it for independent runs (4 runs, random inits: their hidden neurons are in unrelated orders).
        Assert.True(aligned.MeanSquaredDistanceToReference < _zoo.MeanSquaredDistanceToReference,
            $"{aligned.MeanSquaredDistanceToReference} !< {_zoo.MeanSquaredDistanceToReference}");
        Assert.Equal(_zoo.Count, progress.Items.Last().Done);
        // A permutation of hidden neurons keeps each network's function: the same test accuracies.
        using var before = _zoo.ToPopulation();
        using var after = aligned.ToPopulation();
        Assert.Equal(before.Evaluate(_zoo.Task, _zoo.Seed).Accuracy, after.Evaluate(_zoo.Task, _zoo.Seed).Accuracy);
    }

    [Fact]
    public async Task Alignment_is_cancelled_by_its_token()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _zoo.AlignAsync(cancellationToken: cts.Token));
    }

    [Fact]
    public void Canonical_weights_have_unit_neuron_norms_and_the_same_predictions()
    {
        using var canonical = _zoo.Canonicalize();
        var w = canonical.Weights(3);
        // Flat order: the first layer's Wᵀ [30, 16] row-major, so hidden neuron k's incoming weights are w[i * 16 + k].
        for (var k = 0; k < 16; k++)
        {
            var norm = Math.Sqrt(Enumerable.Range(0, 30).Sum(i => (double)w[i * 16 + k] * w[i * 16 + k]));
            Assert.InRange(norm, 1 - 1e-5, 1 + 1e-5); // float32 rounding of a 30-term sum
        }
        Assert.NotEqual(_zoo.Weights(3), w);
        using var before = _zoo.ToPopulation();
        using var after = canonical.ToPopulation();
        Assert.Equal(before.Evaluate(_zoo.Task, _zoo.Seed).Accuracy, after.Evaluate(_zoo.Task, _zoo.Seed).Accuracy);
        // Idempotent (float32: canonicalizing twice moves weights by rounding only).
        using var twice = canonical.Canonicalize();
        Assert.All(twice.Weights(3).Zip(w), p => Assert.Equal(p.Second, p.First, 1e-5f));
    }

    [Fact]
    public async Task Barriers_summarize_their_pairs_and_repeat_with_the_seed()
    {
        var b = await _zoo.BarriersAsync(pairs: 12, points: 5, seed: 4);
        Assert.Equal(12, b.Midpoint.Count);
        Assert.Equal(12, b.Relative.Count);
        Assert.Equal(b.Midpoint.Average(x => (double)x), b.MidpointMean, 1e-5);
        // relative = L(½) − (L(0) + L(1)) / 2 pair by pair, so the means subtract.
        Assert.Equal(b.MidpointMean - b.EndpointsMean, b.RelativeMean, 1e-5);
        Assert.True(b.MaximumMean >= b.RelativeMean - 1e-6);
        var again = await _zoo.BarriersAsync(pairs: 12, points: 5, seed: 4);
        Assert.Equal(b.Midpoint, again.Midpoint);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _zoo.BarriersAsync(points: 4));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => _zoo.BarriersAsync(pairs: 0));
    }

    [Fact]
    public async Task A_disposed_zoo_refuses_alignment_canonicalization_and_barriers()
    {
        var zoo = _zoo.Canonicalize();
        zoo.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => zoo.AlignAsync());
        Assert.Throws<ObjectDisposedException>(() => zoo.Canonicalize());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => zoo.BarriersAsync());
        Assert.Throws<ObjectDisposedException>(() => zoo.ToPopulation());
    }
}
