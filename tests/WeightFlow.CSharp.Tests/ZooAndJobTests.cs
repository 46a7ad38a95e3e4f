using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>WeightZoo and the main job (moved from the F# suite's TestFacade.fs).</summary>
public sealed class ZooAndJobTests
{
    [Fact]
    public async Task WeightZoo_trains_reports_progress_saves_and_loads()
    {
        var progress = new Collect<ZooTrainingProgress>();
        using var zoo = await WeightZoo.TrainAsync(new ZooOptions { Task = TrainingTask.Uci, Runs = 3, Epochs = 3 }, progress);
        Assert.Equal("30-16-16-2", zoo.Layout);
        Assert.Equal(TrainingTask.Uci, zoo.Task);
        // 455 training rows, batch 64: 8 iterations per epoch; drop min(10, epochs - 1) = 2 epochs; every 4.
        Assert.Equal(3 * 2, zoo.Count);
        Assert.Equal(24, progress.Items.Last().Iteration);
        Assert.Equal(802, zoo.Weights(0).Length);
        var path = Temp.File("zoo");
        try
        {
            zoo.Save(path);
            using var back = WeightZoo.Load(path);
            Assert.Equal(zoo.Weights(5), back.Weights(5));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public async Task Main_job_runs_the_core_job_and_reports_its_stages()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"wf-cs-job-{Guid.NewGuid():N}");
        try
        {
            var stages = new Collect<MainJobProgress>();
            var r = await Pipeline.RunAsync(new PipelineOptions { OutDir = dir, Runs = 3, Epochs = 3, Pairs = 10, Flows = false }, stages);
            Assert.True(File.Exists(r.AlignedZooPath));
            Assert.Equal(new[] { "zoo", "align", "barriers" }, stages.Items.Select(p => p.Stage).Distinct());
            Assert.True(r.MidpointLossUnaligned > 0 && r.MidpointLossAligned > 0);
            Assert.Empty(r.Flows);
            Assert.Empty(r.Tables);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Pipeline_report_has_a_row_per_flow_and_baseline_and_reuses_finished_stages()
    {
        var dir = Path.Combine(Path.GetTempPath(), $"wf-cs-pipeline-{Guid.NewGuid():N}");
        try
        {
            // 4 runs of 3 epochs, every flow 2 steps, 4 samples of 2 Euler steps: a plumbing test, not a quality one.
            var options = new PipelineOptions
            {
                OutDir = dir, Runs = 4, Epochs = 3, Pairs = 5, Iterations = 2, Samples = 4, SamplingSteps = 2, HeldOutRuns = 2, Seed = 2,
                SamplingTemperature = 1.0, // the UCI job's default (0.8) adds a fourth baseline row, the Gaussian at that τ
            };
            var r = await Pipeline.RunAsync(options);
            Assert.Equal(new[] { "Euclidean", "Normalized", "Geometric", "Euclidean MLP" }, r.Flows.Select(f => f.Name));
            Assert.Equal(new[] { FlowGeometry.Euclidean, FlowGeometry.Normalized, FlowGeometry.Geometric, FlowGeometry.Euclidean }, r.Flows.Select(f => f.Geometry));
            Assert.Equal(VelocityModelKind.Mlp, r.Flows[3].Model);
            Assert.All(r.Flows, f => { Assert.Equal(2, f.Iterations); Assert.True(File.Exists(f.SamplesPath)); Assert.NotNull(f.TrainingSeconds); });
            Assert.Equal(new[] { "raw", "canonical" }, r.Tables.Select(t => t.Space));
            Assert.Equal(new[] { "Euclidean", "Euclidean MLP" }, r.Tables[0].Flows.Select(x => x.Name));
            Assert.Equal(new[] { "Normalized", "Geometric" }, r.Tables[1].Flows.Select(x => x.Name));
            Assert.All(r.Tables, t => Assert.Equal(3, t.Baselines.Count));
            Assert.All(r.Tables.SelectMany(t => t.Flows), x => { Assert.Equal(4, x.Count); Assert.InRange(x.AccuracyMean, 0, 1); });
            Assert.True(File.Exists(r.ReportPath));
            Assert.Empty(r.ReusedStages);
            // Run again: every stage is read back, and the figures are the same.
            var again = await Pipeline.RunAsync(options);
            Assert.Contains("zoo", again.ReusedStages);
            Assert.All(again.Flows, f => Assert.Null(f.TrainingSeconds));
            Assert.Equal(r.Tables[1].Flows[1].AccuracyMean, again.Tables[1].Flows[1].AccuracyMean);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Theory]
    [InlineData("Iterations")]
    [InlineData("Runs")]
    [InlineData("HeldOutRuns")]
    [InlineData("SamplingSteps")]
    [InlineData("SamplingTemperature")]
    public void Invalid_pipeline_option_is_named(string property)
    {
        var options = property switch
        {
            "Iterations" => new PipelineOptions { Iterations = 0 },
            "Runs" => new PipelineOptions { Runs = 0 },
            "HeldOutRuns" => new PipelineOptions { Runs = 4, HeldOutRuns = 4 },
            "SamplingTemperature" => new PipelineOptions { SamplingTemperature = -1 },
            _ => new PipelineOptions { SamplingSteps = 0 },
        };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => options.Validate());
        Assert.Equal(property, e.ParamName);
    }

    [Fact]
    public void Tasks_are_typed_values()
    {
        Assert.Equal("csv:data/x.csv", TrainingTask.Csv("data/x.csv").Name);
        Assert.Equal(TrainingTask.FashionMnist, TrainingTask.Parse("fmnist"));
        Assert.Throws<ArgumentException>(() => TrainingTask.Csv(" "));
        Assert.ThrowsAny<ArgumentException>(() => TrainingTask.Parse("imagenet"));
    }
}
