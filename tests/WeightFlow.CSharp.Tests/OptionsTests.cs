using WeightFlow;
using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>Options: defaults equal the core's, and each invalid property is named (and, where the core checks the
/// same rule, the core rejects the mapped record too).</summary>
public sealed class OptionsTests
{
    [Fact]
    public void Flow_training_defaults_are_the_core_cpu_preset()
    {
        var mine = new FlowTrainingOptions().ToCore();
        var core = TrainingConfigModule.cpu(FlowKind.Geometric, VelocityKind.Rt);
        // Compared through the header the core writes for a run: every setting, by name.
        Assert.Equal(TrainingConfigModule.toMetadata(core), TrainingConfigModule.toMetadata(mine));
        foreach (var kind in new[] { VelocityModelKind.Pna, VelocityModelKind.Mlp })
        {
            var o = new FlowTrainingOptions { Model = kind, Geometry = FlowGeometry.Euclidean };
            var expected = TrainingConfigModule.cpu(FlowKind.Euclidean, o.Kind);
            Assert.Equal(TrainingConfigModule.toMetadata(expected), TrainingConfigModule.toMetadata(o.ToCore()));
        }
    }

    [Fact]
    public void Sampling_defaults_are_the_core_defaults()
    {
        var mine = new SamplingOptions().ToCore();
        var core = SamplingConfigModule.defaults(100);
        Assert.Equal(Sampling.metadata(core), Sampling.metadata(mine));
        Assert.Equal(core.BatchSize, mine.BatchSize);
        Assert.True(mine.Layout is null && mine.Guidance is null);
        Assert.Equal(1.0, mine.Temperature);
        Assert.Equal(0.25, new SamplingOptions { Temperature = 0.25 }.ToCore().Temperature);
    }

    public static TheoryData<string> FlowProperties => new()
    {
        "Width", "Layers", "Iterations", "BatchSize", "LearningRate", "WarmupSteps", "ClipNorm", "EmaDecay", "Sigma",
        "PriorStd", "CheckpointEvery", "HeldOutRuns", "Device",
    };

    private static FlowTrainingOptions BadFlow(string property) => property switch
    {
        "Width" => new() { Width = 0 },
        "Layers" => new() { Layers = 0 },
        "Iterations" => new() { Iterations = 0 },
        "BatchSize" => new() { BatchSize = 0 },
        "LearningRate" => new() { LearningRate = 0 },
        "WarmupSteps" => new() { WarmupSteps = -1 },
        "ClipNorm" => new() { ClipNorm = 0 },
        "EmaDecay" => new() { EmaDecay = 1 },
        "Sigma" => new() { Sigma = double.NaN },
        "PriorStd" => new() { PriorStd = 0 },
        "CheckpointEvery" => new() { CheckpointEvery = 0 },
        "HeldOutRuns" => new() { HeldOutRuns = -1 },
        "Device" => new() { Device = " " },
        _ => throw new ArgumentException(property),
    };

    [Theory]
    [MemberData(nameof(FlowProperties))]
    public void Invalid_flow_option_is_named(string property)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => BadFlow(property).Validate());
        Assert.Equal(property, e.ParamName);
        Assert.Contains(property, e.Message);
    }

    [Theory]
    [InlineData("Iterations")]
    [InlineData("BatchSize")]
    [InlineData("LearningRate")]
    [InlineData("CheckpointEvery")]
    public void The_core_rejects_what_the_facade_rejects(string property)
    {
        var e = Assert.ThrowsAny<ArgumentException>(() => TrainingConfigModule.validate(BadFlow(property).ToCore()));
        Assert.Equal(property, e.ParamName);
    }

    public static TheoryData<string> SamplingProperties => new()
    {
        "Count", "Steps", "BatchSize", "Noise", "NoiseWindowStart", "NoiseWindowEnd", "GuidanceLambda", "GuidanceTask",
        "GuidanceBatch", "TargetLayout", "Temperature",
    };

    private static SamplingOptions BadSampling(string property) => property switch
    {
        "Count" => new() { Count = 0 },
        "Steps" => new() { Steps = 0 },
        "BatchSize" => new() { BatchSize = 0 },
        "Noise" => new() { Noise = -0.1 },
        "NoiseWindowStart" => new() { Noise = 0.1, NoiseWindowStart = 0.9, NoiseWindowEnd = 0.5 },
        "NoiseWindowEnd" => new() { Noise = 0.1, NoiseWindowEnd = 1.5 },
        "GuidanceLambda" => new() { GuidanceLambda = double.PositiveInfinity, GuidanceTask = TrainingTask.Uci },
        "GuidanceTask" => new() { GuidanceLambda = 1 },
        "GuidanceBatch" => new() { GuidanceLambda = 1, GuidanceTask = TrainingTask.Uci, GuidanceBatch = 0 },
        "TargetLayout" => new() { TargetLayout = "" },
        "Temperature" => new() { Temperature = double.NaN },
        _ => throw new ArgumentException(property),
    };

    [Theory]
    [MemberData(nameof(SamplingProperties))]
    public void Invalid_sampling_option_is_named(string property)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => BadSampling(property).Validate());
        Assert.Equal(property, e.ParamName);
    }

    [Theory]
    [InlineData("Count")]
    [InlineData("Steps")]
    [InlineData("BatchSize")]
    [InlineData("Noise")]
    [InlineData("NoiseWindowStart")]
    [InlineData("NoiseWindowEnd")]
    [InlineData("GuidanceLambda")]
    [InlineData("GuidanceBatch")]
    [InlineData("Temperature")]
    public void The_core_rejects_what_the_facade_rejects_in_sampling(string property) =>
        Assert.ThrowsAny<ArgumentException>(() => SamplingConfigModule.validate(BadSampling(property).ToCore()));

    [Theory]
    [InlineData("Steps")]
    [InlineData("Probes")]
    [InlineData("BatchSize")]
    public void Invalid_likelihood_option_is_named(string property)
    {
        var o = property switch
        {
            "Steps" => new LikelihoodOptions { Steps = 0 },
            "Probes" => new LikelihoodOptions { Probes = -1 },
            _ => new LikelihoodOptions { BatchSize = 0 },
        };
        Assert.Equal(property, Assert.Throws<ArgumentOutOfRangeException>(o.Validate).ParamName);
    }

    [Fact]
    public void Invalid_zoo_option_is_named()
    {
        Assert.Equal("Runs", Assert.Throws<ArgumentOutOfRangeException>(() => new ZooOptions { Runs = 0 }.Validate()).ParamName);
        Assert.Equal("Epochs", Assert.Throws<ArgumentOutOfRangeException>(() => new ZooOptions { Epochs = 1 }.Validate()).ParamName);
    }
}
