using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>The facade end to end on a tiny UCI budget: zoo → flow → samples → evaluation → BMA.</summary>
public sealed class EndToEndTests : IClassFixture<TinyZoo>
{
    private readonly WeightZoo _zoo;
    public EndToEndTests(TinyZoo fixture) => _zoo = fixture.Zoo;

    // A residual MLP of width 32, one block, batches of 8: a step costs milliseconds, so the tests stay within seconds
    // on a shared 2-core machine. The figures are checked for consistency, not quality.
    private static FlowTrainingOptions Tiny(FlowGeometry geometry = FlowGeometry.Geometric, int iterations = 30, string? checkpoint = null) => new()
    {
        Geometry = geometry, Model = VelocityModelKind.Mlp, Width = 32, Layers = 1, BatchSize = 8, Iterations = iterations,
        WarmupSteps = 5, HeldOutRuns = 1, Seed = 3, CheckpointEvery = 3, CheckpointPath = checkpoint,
    };

    [Fact]
    public async Task Zoo_flow_samples_evaluation_and_bma()
    {
        Assert.Equal("30-16-16-2", _zoo.Layout);
        Assert.Equal(8, _zoo.Count); // 4 runs x 2 checkpoints in the one recorded epoch
        var trainProgress = new Collect<FlowTrainingProgress>();
        // The thesis' model (a Relational Transformer), as small as it goes: width 8, one layer, batches of 4.
        var options = new FlowTrainingOptions { Width = 8, Layers = 1, BatchSize = 4, Iterations = 12, WarmupSteps = 2, HeldOutRuns = 1, Seed = 3 };
        using var model = await WeightFlowModel.TrainAsync(_zoo, options, trainProgress);
        Assert.Equal(12, model.Losses.Count);
        Assert.All(model.Losses, l => Assert.True(double.IsFinite(l)));
        Assert.Equal(Enumerable.Range(1, 12), trainProgress.Items.Select(p => p.Step));
        Assert.Equal(new[] { 3 }, model.HeldOutRuns); // the run with the largest id
        Assert.Equal(FlowGeometry.Geometric, model.Geometry);

        var sampleProgress = new Collect<int>();
        using var population = await model.SampleAsync(new SamplingOptions { Count = 8, Steps = 4, Seed = 5 }, sampleProgress);
        Assert.Equal(8, population.Count);
        Assert.Equal(802, population.Weights(7).Length);
        Assert.Equal(4, sampleProgress.Items.Max());

        var eval = population.Evaluate(_zoo.Task, _zoo.Seed);
        Assert.Equal(8, eval.Accuracy.Count);
        Assert.Equal(8, eval.CrossEntropy.Count);
        Assert.All(eval.Accuracy, a => Assert.InRange(a, 0f, 1f));
        // float32 accuracies averaged in float64 by the core: agree to float32 rounding.
        Assert.Equal(eval.Accuracy.Average(a => (double)a), eval.AccuracyMean, 1e-6);
        Assert.Equal(8, eval.BmaK);
        // At k = B every subset is the whole population, so the direct call computes the very same number.
        Assert.Equal(eval.BmaAccuracy, population.BmaAccuracy(_zoo.Task, 8, _zoo.Seed), 12);
        Assert.Equal(eval.Diversity!.Value, population.Diversity(_zoo.Task, _zoo.Seed)!.Value, 12);
        Assert.Equal(new[] { 1, 2, 4, 8 }, eval.BmaCurveK);
    }

    [Fact]
    public async Task Saved_flow_and_samples_read_back_identically()
    {
        using var model = await WeightFlowModel.TrainAsync(_zoo, Tiny(iterations: 6));
        var flowPath = Temp.File("flow");
        var samplesPath = Temp.File("samples");
        try
        {
            model.Save(flowPath);
            using var back = WeightFlowModel.Load(flowPath);
            Assert.Equal(model.Layout, back.Layout);
            Assert.Equal(model.HeldOutRuns, back.HeldOutRuns);
            var options = new SamplingOptions { Count = 3, Steps = 4, Seed = 9 };
            using var a = await model.SampleAsync(options);
            using var b = await back.SampleAsync(options);
            // The same EMA parameters, prior seed and solver: bit-identical samples.
            Assert.Equal(a.Weights(2), b.Weights(2));
            a.Save(samplesPath);
            using var reread = NetworkPopulation.Load(samplesPath);
            Assert.Equal(a.Count, reread.Count);
            Assert.Equal(a.Layout, reread.Layout);
            Assert.Equal(a.Weights(1), reread.Weights(1));
        }
        finally
        {
            File.Delete(flowPath);
            File.Delete(samplesPath);
        }
    }

    [Fact]
    public async Task Cancelled_training_resumes_from_its_checkpoint_to_the_uninterrupted_losses()
    {
        var checkpoint = Temp.File("ckpt");
        try
        {
            var resumable = Tiny(iterations: 12, checkpoint: checkpoint);
            using var cts = new CancellationTokenSource();
            var progress = new Collect<FlowTrainingProgress>(p => { if (p.Step == 6) cts.Cancel(); });
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WeightFlowModel.TrainAsync(_zoo, resumable, progress, cts.Token));
            Assert.True(File.Exists(checkpoint));
            Assert.Equal(6, progress.Items.Last().Step);
            var resumedProgress = new Collect<FlowTrainingProgress>();
            using var resumed = await WeightFlowModel.TrainAsync(_zoo, resumable, resumedProgress);
            Assert.Equal(7, resumedProgress.Items.First().Step);
            using var straight = await WeightFlowModel.TrainAsync(_zoo, Tiny(iterations: 12));
            // The core restores model, optimizer, EMA and generator state: the losses are reproduced exactly.
            Assert.Equal(straight.Losses, resumed.Losses);
        }
        finally
        {
            File.Delete(checkpoint);
        }
    }

    [Fact]
    public async Task Log_likelihood_of_a_euclidean_flow_is_finite_and_other_flows_refuse()
    {
        using var euclidean = await WeightFlowModel.TrainAsync(_zoo, Tiny(FlowGeometry.Euclidean, iterations: 6));
        using var networks = await euclidean.SampleAsync(new SamplingOptions { Count = 2, Steps = 2 });
        var values = await euclidean.LogLikelihoodAsync(networks, new LikelihoodOptions { Steps = 1, Probes = 1 });
        Assert.Equal(2, values.Length);
        Assert.All(values, v => Assert.True(double.IsFinite(v)));
        using var geometric = await WeightFlowModel.TrainAsync(_zoo, Tiny(iterations: 2));
        await Assert.ThrowsAnyAsync<ArgumentException>(() => geometric.LogLikelihoodAsync(networks));
    }

    [Fact]
    public async Task A_cancelled_token_cancels_before_any_work()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WeightFlowModel.TrainAsync(_zoo, Tiny(), null, cts.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => WeightZoo.TrainAsync(new ZooOptions { Runs = 2 }, null, cts.Token));
    }

    [Fact]
    public async Task Disposed_objects_throw_ObjectDisposedException()
    {
        var model = await WeightFlowModel.TrainAsync(_zoo, Tiny(iterations: 2));
        var population = await model.SampleAsync(new SamplingOptions { Count = 2, Steps = 2 });
        model.Dispose();
        model.Dispose(); // twice is harmless
        Assert.Throws<ObjectDisposedException>(() => model.Layout);
        Assert.Throws<ObjectDisposedException>(() => model.Save(Temp.File("x")));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => model.SampleAsync());
        population.Dispose();
        Assert.Throws<ObjectDisposedException>(() => population.Weights(0));
        Assert.Throws<ObjectDisposedException>(() => population.Count);
        Assert.Throws<ObjectDisposedException>(() => population.Evaluate(TrainingTask.Uci));
        var zoo = await WeightZoo.TrainAsync(new ZooOptions { Runs = 2, Epochs = 2 });
        zoo.Dispose();
        Assert.Throws<ObjectDisposedException>(() => zoo.Weights(0));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => WeightFlowModel.TrainAsync(zoo, new FlowTrainingOptions()));
    }

    [Fact]
    public async Task A_core_engine_error_reaches_CSharp_as_a_WeightFlowException()
    {
        if (TorchSharp.torch.cuda.is_available()) return; // a CUDA build has the device this test asks for
        var e = await Assert.ThrowsAsync<WeightFlowException>(() => WeightFlowModel.TrainAsync(_zoo, new FlowTrainingOptions { Device = "cuda", Iterations = 1, HeldOutRuns = 1 }));
        Assert.Equal(WeightFlowErrorKind.Device, e.Kind);
        Assert.Contains("WeightFlowCuda", e.Message); // the fix: the build property
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void A_core_file_error_reaches_CSharp_as_a_WeightFlowException_with_its_kind()
    {
        var missing = Path.Combine(Path.GetTempPath(), $"wf-cs-missing-{Guid.NewGuid():N}.safetensors");
        var e = Assert.Throws<WeightFlowException>(() => WeightZoo.Load(missing));
        Assert.Equal(WeightFlowErrorKind.NotFound, e.Kind);
        var csv = Path.Combine(Path.GetTempPath(), $"wf-cs-{Guid.NewGuid():N}.csv");
        File.WriteAllText(csv, "a,b,label\n1,2,0\n3,4,1\n");
        try
        {
            var wrong = Assert.Throws<WeightFlowException>(() => NetworkPopulation.Load(csv));
            Assert.Equal(WeightFlowErrorKind.WrongKind, wrong.Kind);
        }
        finally { File.Delete(csv); }
    }
}
