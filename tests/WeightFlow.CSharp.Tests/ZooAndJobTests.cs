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
            var r = await WeightFlowMainJob.RunAsync(new MainJobOptions { OutDir = dir, Runs = 3, Epochs = 3, Pairs = 10, Flows = false }, stages);
            Assert.True(File.Exists(r.AlignedZooPath));
            Assert.Equal(new[] { "zoo", "align", "barriers" }, stages.Items.Select(p => p.Stage).Distinct());
            Assert.True(r.MidpointLossUnaligned > 0 && r.MidpointLossAligned > 0);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
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
