// WeightFlow from C#: train a zoo, train a Geometric flow on it, sample 16 networks, evaluate them.
// dotnet run --project samples/QuickStart -c Release            (the CPU preset: a few minutes on 2 cores)
// dotnet run --project samples/QuickStart -c Release -- --tiny  (seconds; what CI runs)
using WeightFlow.CSharp;

var tiny = args.Contains("--tiny");
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

// 1. A zoo: independent runs of the thesis' 30-16-16-2 MLP on UCI breast cancer, trained as one batched model.
using var zoo = await WeightZoo.TrainAsync(new ZooOptions { Task = TrainingTask.Uci, Runs = tiny ? 6 : 100, Epochs = tiny ? 3 : null },
    null, cts.Token);
Console.WriteLine($"zoo: {zoo.Count} checkpoints, final test accuracy {zoo.FinalTestAccuracyMean:F3}");

// 2. A Geometric flow (canonical weights on a product of spheres) with a Relational Transformer, holding out runs.
var training = new FlowTrainingOptions
{
    Geometry = FlowGeometry.Geometric,
    Model = VelocityModelKind.RelationalTransformer,
    Iterations = tiny ? 30 : 1000,
    WarmupSteps = tiny ? 5 : 100,
    HeldOutRuns = tiny ? 1 : 10,
    Width = tiny ? 8 : null,
    Layers = tiny ? 1 : null,
    BatchSize = tiny ? 8 : 32,
};
var progress = new Progress<FlowTrainingProgress>(p => { if (p.Step % 10 == 0) Console.Write($"\rflow step {p.Step}/{p.Total} loss {p.Loss:F4}"); });
using var flow = await WeightFlowModel.TrainAsync(zoo, training, progress, cts.Token);
Console.WriteLine();

// 3. Sixteen new networks, 100 Euler steps (10 when tiny).
using var networks = await flow.SampleAsync(new SamplingOptions { Count = 16, Steps = tiny ? 10 : 100, Seed = 1 }, null, cts.Token);

// 4. Their test accuracies (the zoo's data split) and the Bayesian model average of all 16.
var eval = networks.Evaluate(zoo.Task, splitSeed: zoo.Seed);
for (var i = 0; i < networks.Count; i++) Console.WriteLine($"network {i,2}: test accuracy {eval.Accuracy[i]:F3}");
Console.WriteLine($"mean {eval.AccuracyMean:F3}, BMA of {eval.BmaK}: {eval.BmaAccuracy:F3}, diversity {eval.Diversity:F4}");
if (tiny) Console.WriteLine("(--tiny: 30 flow steps are too few to learn the zoo, so the 16 samples are poor and far apart; README \"C# tour\")");
