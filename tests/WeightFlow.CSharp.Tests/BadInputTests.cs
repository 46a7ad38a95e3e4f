using Microsoft.FSharp.Collections;
using TorchSharp;
using WeightFlow;
using WeightFlow.CSharp;
using Xunit;
using Task = System.Threading.Tasks.Task;
using Path = System.IO.Path;

namespace FacadeTests;

/// <summary>Tiny valid files of every kind (a 4-8-2 zoo of 2 runs on a 4-feature CSV, a 4-6-2 zoo, a Euclidean RT
/// flow and an MLP flow on the first zoo, 3 samples, IDX labels) and the bad files derived from them, in one folder
/// deleted afterwards.</summary>
public sealed class BadInputFiles : IDisposable
{
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), $"wf-cs-bad-{Guid.NewGuid():N}");
    public WeightZoo Zoo { get; }
    public WeightZoo Zoo46 { get; }
    public WeightFlowModel Rt { get; }
    public WeightFlowModel Mlp { get; }
    public NetworkPopulation Population { get; }
    public string ZooFile { get; }
    public string FlowFile { get; }
    public string SamplesFile { get; }
    public string Csv { get; }
    public string TwoFeatureCsv { get; }
    public string IdxFile { get; }

    public BadInputFiles()
    {
        Directory.CreateDirectory(Dir);
        Csv = Text("blobs4.csv", Lines(Enumerable.Range(0, 100).Select(i => $"{i % 7}.5,{i % 5}.25,{i % 3}.0,{i % 11}.5,{i % 2}")));
        TwoFeatureCsv = Text("two.csv", Lines(Enumerable.Range(0, 100).Select(i => $"{i % 7}.5,{i % 5}.25,{i % 2}")));
        Zoo = WeightZoo.TrainAsync(new ZooOptions { Task = TrainingTask.Csv(Csv), Layout = "4-8-2", Runs = 2, Epochs = 2, Seed = 1 }).GetAwaiter().GetResult();
        Zoo46 = WeightZoo.TrainAsync(new ZooOptions { Task = TrainingTask.Csv(Csv), Layout = "4-6-2", Runs = 2, Epochs = 2, Seed = 1 }).GetAwaiter().GetResult();
        Rt = WeightFlowModel.TrainAsync(Zoo, Tiny(VelocityModelKind.RelationalTransformer)).GetAwaiter().GetResult();
        Mlp = WeightFlowModel.TrainAsync(Zoo, Tiny(VelocityModelKind.Mlp)).GetAwaiter().GetResult();
        Population = Rt.SampleAsync(new SamplingOptions { Count = 3, Steps = 2 }).GetAwaiter().GetResult();
        ZooFile = Path.Combine(Dir, "zoo.safetensors");
        Zoo.Save(ZooFile);
        FlowFile = Path.Combine(Dir, "flow.safetensors");
        Rt.Save(FlowFile);
        SamplesFile = Path.Combine(Dir, "samples.safetensors");
        Population.Save(SamplesFile);
        IdxFile = Bytes("labels-idx1-ubyte", WeightFlow.Idx.encode(new IdxArray(new[] { 6 }, new byte[] { 0, 1, 2, 3, 4, 5 })));
    }

    /// <summary>A Euclidean flow as small as it goes: width 8, one layer, 2 steps of batch 4.</summary>
    public static FlowTrainingOptions Tiny(VelocityModelKind model) => new()
    {
        Geometry = FlowGeometry.Euclidean, Model = model, Width = 8, Layers = 1, BatchSize = 4, Iterations = 2, WarmupSteps = 1,
        HeldOutRuns = 1, Seed = 3,
    };

    public static string Lines(IEnumerable<string> lines) => string.Join("\n", lines) + "\n";

    public string Text(string name, string text)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    public string Bytes(string name, byte[] bytes)
    {
        var path = Path.Combine(Dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>A copy of <paramref name="source"/> with one header entry rewritten, as an editor of the header would.</summary>
    public string Edit(string source, string name, string key, string value)
    {
        var s = Storage.read(source);
        var path = Path.Combine(Dir, name);
        Storage.write(path, s.Metadata.Add(key, value), s.Tensors);
        return path;
    }

    /// <summary>A copy of <paramref name="source"/> with its tensors mapped (index, name, tensor).</summary>
    public string Rewrite(string source, string name, Func<int, string, torch.Tensor, torch.Tensor> map)
    {
        var s = Storage.read(source);
        var path = Path.Combine(Dir, name);
        Storage.write(path, s.Metadata, ListModule.OfSeq(s.Tensors.Select((t, i) => Tuple.Create(t.Item1, map(i, t.Item1, t.Item2)))));
        return path;
    }

    /// <summary>The file less its last 5 bytes.</summary>
    public string Cut(string source)
    {
        var bytes = File.ReadAllBytes(source);
        return Bytes("cut-" + Path.GetFileName(source), bytes[..^5]);
    }

    /// <summary>A safetensors file with a hand-written header.</summary>
    public string Safetensors(string name, string json, byte[] data)
    {
        var h = System.Text.Encoding.UTF8.GetBytes(json);
        return Bytes(name, BitConverter.GetBytes((long)h.Length).Concat(h).Concat(data).ToArray());
    }

    /// <summary>A data folder (for WEIGHTFLOW_DATA) holding MNIST's subset files: valid labels, these image bytes.</summary>
    public string MnistFolder(string name, byte[] images)
    {
        var root = Path.Combine(Dir, "data-" + name);
        var folder = Path.Combine(root, Sources.mnistFolder);
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, Sources.mnistSubsetLabels),
            WeightFlow.Idx.encode(new IdxArray(new[] { 20 }, Enumerable.Range(0, 20).Select(i => (byte)(i % 10)).ToArray())));
        File.WriteAllBytes(Path.Combine(folder, Sources.mnistSubsetImages), images);
        return root;
    }

    public void Dispose()
    {
        Population.Dispose();
        Rt.Dispose();
        Mlp.Dispose();
        Zoo.Dispose();
        Zoo46.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>Issue 15, the facade side of the bad-input table: one row per case of the list that the facade's
/// API reaches (CSV and MNIST tasks, zoo/flow/samples files, options objects), each raising a
/// <see cref="WeightFlowException"/> of the right <see cref="WeightFlowErrorKind"/> whose one-line message names the
/// problem. Invalid options are <see cref="ArgumentException"/>s (the facade's documented contract; the core's
/// <c>Check.classify</c> maps them to InvalidOption, as the CLI's exit code 2 does). README "Reliability" lists the
/// rows beside the CLI's.</summary>
public sealed class BadInputTests : IClassFixture<BadInputFiles>
{
    private readonly BadInputFiles _f;
    private readonly Dictionary<string, (Func<Task> Act, WeightFlowErrorKind Kind, string Phrase)> _rows;

    public BadInputTests(BadInputFiles files)
    {
        _f = files;
        _rows = Rows(files);
    }

    private static Func<Task> Sync(Action a) => () => { a(); return Task.CompletedTask; };

    private static Func<Task> Zoo(TrainingTask task, string? layout = null, int? runs = 1, int? epochs = 2) =>
        () => WeightZoo.TrainAsync(new ZooOptions { Task = task, Layout = layout, Runs = runs, Epochs = epochs });

    private static Func<Task> WithData(string root, Func<Task> act) => async () =>
    {
        var old = Environment.GetEnvironmentVariable(Sources.dataDirVariable);
        Environment.SetEnvironmentVariable(Sources.dataDirVariable, root);
        try { await act(); }
        finally { Environment.SetEnvironmentVariable(Sources.dataDirVariable, old); }
    };

    private static Dictionary<string, (Func<Task>, WeightFlowErrorKind, string)> Rows(BadInputFiles f)
    {
        var csv = (string name, string text) => TrainingTask.Csv(f.Text(name, text));
        var images = WeightFlow.Idx.encode(new IdxArray(new[] { 20, 28, 28 }, Enumerable.Range(0, 20 * 28 * 28).Select(i => (byte)i).ToArray()));
        var idx = WeightFlow.Idx.encode(new IdxArray(new[] { 2, 3, 4 }, Enumerable.Range(0, 24).Select(i => (byte)i).ToArray()));
        Func<Task> Mnist(string name, byte[] bytes) => WithData(f.MnistFolder(name, bytes), Zoo(TrainingTask.Mnist));
        var checkpoint = f.Edit(f.FlowFile, "flow.checkpoint", "weightflow.kind", "flow-checkpoint");
        var missing = Path.Combine(f.Dir, "missing.safetensors");
        const WeightFlowErrorKind notFound = WeightFlowErrorKind.NotFound, wrongKind = WeightFlowErrorKind.WrongKind,
            corrupt = WeightFlowErrorKind.Corrupt, invalidData = WeightFlowErrorKind.InvalidData, option = WeightFlowErrorKind.InvalidOption,
            mismatch = WeightFlowErrorKind.Mismatch, nonFinite = WeightFlowErrorKind.NonFinite;
        return new()
        {
            // --- tasks and files that do not exist ---
            ["unknown task"] = (Sync(() => TrainingTask.Parse("imagenet")), option, "Unknown task 'imagenet'"),
            ["missing zoo file"] = (Sync(() => WeightZoo.Load(missing)), notFound, "File not found"),
            ["missing flow file"] = (Sync(() => WeightFlowModel.Load(missing)), notFound, "File not found"),
            ["missing samples file"] = (Sync(() => NetworkPopulation.Load(missing)), notFound, "File not found"),
            ["missing CSV file"] = (Zoo(TrainingTask.Csv(Path.Combine(f.Dir, "missing.csv"))), notFound, "File not found"),
            ["MNIST not prepared"] = (WithData(Path.Combine(f.Dir, "no-data"), Zoo(TrainingTask.Mnist)), notFound, "weightflow data prepare"),
            ["a folder given as a file"] = (Sync(() => WeightZoo.Load(f.Dir)), wrongKind, "is a folder, not a file"),
            // --- files of the wrong kind ---
            ["CSV as zoo"] = (Sync(() => WeightZoo.Load(f.Csv)), wrongKind, "is not a zoo file but CSV"),
            ["flow as zoo"] = (Sync(() => WeightZoo.Load(f.FlowFile)), wrongKind, "is not a zoo file but a trained WeightFlow flow"),
            ["flow checkpoint as zoo"] = (Sync(() => WeightZoo.Load(checkpoint)), wrongKind, "is not a zoo file but a flow-training checkpoint"),
            ["samples as zoo"] = (Sync(() => WeightZoo.Load(f.SamplesFile)), wrongKind, "is not a zoo file but sampled networks"),
            ["IDX as zoo"] = (Sync(() => WeightZoo.Load(f.IdxFile)), wrongKind, "is not a zoo file but an IDX data file"),
            ["zoo as flow"] = (Sync(() => WeightFlowModel.Load(f.ZooFile)), wrongKind, "is not a flow file but a WeightFlow zoo"),
            ["samples as flow"] = (Sync(() => WeightFlowModel.Load(f.SamplesFile)), wrongKind, "is not a flow file but sampled networks"),
            ["CSV as flow"] = (Sync(() => WeightFlowModel.Load(f.Csv)), wrongKind, "is not a flow file but CSV"),
            ["zoo as samples"] = (Sync(() => NetworkPopulation.Load(f.ZooFile)), wrongKind, "is not a samples file but a WeightFlow zoo"),
            ["flow as samples"] = (Sync(() => NetworkPopulation.Load(f.FlowFile)), wrongKind, "is not a samples file but a trained WeightFlow flow"),
            ["CSV as samples"] = (Sync(() => NetworkPopulation.Load(f.Csv)), wrongKind, "is not a samples file but CSV"),
            ["zoo as CSV"] = (Zoo(TrainingTask.Csv(f.ZooFile)), wrongKind, "is not a CSV data set but a WeightFlow zoo"),
            ["IDX as CSV"] = (Zoo(TrainingTask.Csv(f.IdxFile)), wrongKind, "is not a CSV data set but an IDX data file"),
            ["CSV as IDX"] = (Mnist("csv", System.Text.Encoding.ASCII.GetBytes("1,2,0\n3,4,1\n")), wrongKind, "is not an IDX data file but CSV"),
            // --- CSV content ---
            ["CSV ragged row"] = (Zoo(csv("ragged.csv", "1,2,0\n3,4,1\n5,1\n")), invalidData, "line 3 has 2 column(s)"),
            ["CSV non-numeric cell"] = (Zoo(csv("text.csv", "1,2,0\n3,abc,1\n")), invalidData, "'abc' is not a number"),
            ["CSV NaN"] = (Zoo(csv("nan.csv", "1,2,0\nNaN,4,1\n")), invalidData, "NaN or infinite"),
            ["CSV infinity"] = (Zoo(csv("inf.csv", "1,2,0\n3,-Infinity,1\n")), invalidData, "NaN or infinite"),
            ["CSV empty file"] = (Zoo(csv("empty.csv", "")), invalidData, "empty"),
            ["CSV non-integer label"] = (Zoo(csv("half.csv", "1,2,0\n3,4,0.5\n")), invalidData, "label 0.5 is not a class index"),
            ["CSV labels not 0..C-1"] = (Zoo(csv("gaps.csv", BadInputFiles.Lines(Enumerable.Range(0, 60).Select(i => $"{i}.5,{i % 7},{new[] { 0, 1, 7 }[i % 3]}")))), invalidData, "not 0..C-1"),
            ["CSV one class only"] = (Zoo(csv("single.csv", BadInputFiles.Lines(Enumerable.Range(0, 40).Select(i => $"{i}.0,0")))), invalidData, "at least two classes"),
            ["CSV too small for the split"] = (Zoo(csv("one.csv", "1.0,2.0,0\n")), invalidData, "too small"),
            ["CSV split with a class missing"] = (Zoo(csv("rare.csv", BadInputFiles.Lines(Enumerable.Range(0, 40).Select(i => $"{i}.0,{i % 2}").Append("99.0,2")))), invalidData, "every split needs every class"),
            // --- IDX (MNIST through WEIGHTFLOW_DATA) ---
            ["IDX wrong magic"] = (Mnist("magic", new byte[] { 1, 2 }.Concat(images[2..]).ToArray()), corrupt, "magic"),
            ["IDX truncated"] = (Mnist("truncated", images[..^1]), corrupt, "truncated IDX file"),
            ["IDX header declaring gigabytes"] = (Mnist("huge", idx[..4].Concat(Enumerable.Repeat(new byte[] { 0, 0, 0xFF, 0xFF }, 3).SelectMany(b => b)).ToArray()), corrupt, "more than the 1073741824 data bytes"),
            // --- zoo / flow / samples files ---
            ["zoo truncated"] = (Sync(() => WeightZoo.Load(f.Cut(f.ZooFile))), corrupt, "truncated or corrupt"),
            ["flow truncated"] = (Sync(() => WeightFlowModel.Load(f.Cut(f.FlowFile))), corrupt, "truncated or corrupt"),
            ["samples truncated"] = (Sync(() => NetworkPopulation.Load(f.Cut(f.SamplesFile))), corrupt, "truncated or corrupt"),
            ["header: a shape of 2^62 elements"] = (Sync(() => WeightZoo.Load(f.Safetensors("huge-shape.safetensors", """{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}""", new byte[8]))), corrupt, "needs more bytes than any file holds"),
            ["header: gigabyte tensor in a small file"] = (Sync(() => WeightZoo.Load(f.Safetensors("gigabyte.safetensors", """{"a":{"dtype":"F32","shape":[1073741824],"data_offsets":[0,4294967296]}}""", new byte[8]))), corrupt, "bytes"),
            ["header: length of 2^62 bytes"] = (Sync(() => WeightZoo.Load(f.Bytes("huge-header.safetensors", BitConverter.GetBytes(1L << 62).Concat("{\"a\":1}"u8.ToArray()).ToArray()))), corrupt, "the header claims 4611686018427387904 bytes"),
            ["header: JSON nested too deep"] = (Sync(() => WeightZoo.Load(f.Safetensors("deep.safetensors", "{\"a\":" + new string('[', 40) + new string(']', 40) + "}", []))), corrupt, "not JSON"),
            ["flow header: a model far larger than its parameters"] = (Sync(() => WeightFlowModel.Load(f.Edit(f.FlowFile, "wide-model.safetensors", "model.node_width", "100000"))), corrupt, "far larger than the"),
            ["flow header: held-out runs not a list"] = (Sync(() => WeightFlowModel.Load(f.Edit(f.FlowFile, "heldout.safetensors", "heldout_runs", "1,x"))), corrupt, "heldout_runs"),
            ["zoo wrong dtype"] = (Sync(() => WeightZoo.Load(f.Rewrite(f.ZooFile, "zoo-f64.safetensors", (_, n, t) => n == "theta" ? t.to_type(torch.float64) : t))), corrupt, "float32"),
            ["flow wrong dtype"] = (Sync(() => WeightFlowModel.Load(f.Rewrite(f.FlowFile, "flow-f64.safetensors", (i, _, t) => i == 0 ? t.to_type(torch.float64) : t))), corrupt, "Float64"),
            ["samples wrong dtype"] = (Sync(() => NetworkPopulation.Load(f.Rewrite(f.SamplesFile, "samples-i32.safetensors", (_, _, t) => t.to_type(torch.int32)))), corrupt, "float32"),
            ["zoo unknown format version"] = (Sync(() => WeightZoo.Load(f.Edit(f.ZooFile, "zoo-v2.safetensors", "weightflow.format", "2"))), corrupt, "format version '2'"),
            ["flow unknown format version"] = (Sync(() => WeightFlowModel.Load(f.Edit(f.FlowFile, "flow-v2.safetensors", "weightflow.format", "2"))), corrupt, "format version '2'"),
            ["samples unknown format version"] = (Sync(() => NetworkPopulation.Load(f.Edit(f.SamplesFile, "samples-v2.safetensors", "weightflow.format", "2"))), corrupt, "format version '2'"),
            ["zoo header layout not its weights"] = (Sync(() => WeightZoo.Load(f.Edit(f.ZooFile, "zoo-lie.safetensors", "layout", "4-800-2"))), corrupt, "4-800-2 MLP has"),
            ["samples header layout with a zero width"] = (Sync(() => NetworkPopulation.Load(f.Edit(f.SamplesFile, "samples-zero.safetensors", "layout", "4-0-2"))), corrupt, "does not describe samples"),
            ["zoo NaN weights"] = (Sync(() => WeightZoo.Load(f.Rewrite(f.ZooFile, "zoo-nan.safetensors", (_, n, t) => n == "theta" ? t.index_fill(1, torch.tensor(new long[] { 0 }), double.NaN) : t))), nonFinite, "NaN or infinite"),
            ["flow infinite weights"] = (Sync(() => WeightFlowModel.Load(f.Rewrite(f.FlowFile, "flow-inf.safetensors", (i, _, t) => i == 0 ? t.clone().fill_(double.PositiveInfinity) : t))), nonFinite, "NaN or infinite"),
            ["samples NaN weights"] = (Sync(() => NetworkPopulation.Load(f.Rewrite(f.SamplesFile, "samples-nan.safetensors", (_, _, t) => t.clone().fill_(double.NaN)))), nonFinite, "NaN or infinite"),
            // --- layouts that do not match the flow, the task or the data ---
            ["layout of another depth than the flow"] = (() => f.Rt.SampleAsync(new SamplingOptions { Count = 2, Steps = 2, TargetLayout = "4-8-8-2" }), option, "depth"),
            ["wider layout an MLP flow cannot sample"] = (() => f.Mlp.SampleAsync(new SamplingOptions { Count = 2, Steps = 2, TargetLayout = "4-16-2" }), option, "cannot run on 4-16-2"),
            ["layout not matching the task's features"] = (Zoo(TrainingTask.Csv(f.Csv), layout: "5-8-2"), option, "takes 5 inputs"),
            ["networks not matching the task's features"] = (Sync(() => f.Population.Evaluate(TrainingTask.Csv(f.TwoFeatureCsv))), mismatch, "4-8-2 MLPs (4 inputs, 2 outputs) but the csv:"),
            ["networks not matching the BMA's task"] = (Sync(() => f.Population.BmaAccuracy(TrainingTask.Csv(f.TwoFeatureCsv), 1)), mismatch, "has 2 features"),
            ["guidance task not matching the flow's layout"] = (() => f.Rt.SampleAsync(new SamplingOptions { Count = 2, Steps = 2, GuidanceLambda = 1, GuidanceTask = TrainingTask.Csv(f.TwoFeatureCsv) }), mismatch, "has 2 features and 2 classes"),
            ["networks not matching the likelihood's flow"] = (() => f.Mlp.LogLikelihoodAsync(f.Zoo46.ToPopulation()), option, "4-6-2"),
            // --- impossible options ---
            ["zero runs"] = (Zoo(TrainingTask.Uci, runs: 0), option, "Runs must be at least 1"),
            ["too few epochs"] = (Zoo(TrainingTask.Uci, epochs: 1), option, "Epochs must be at least 2"),
            ["layout with a zero width"] = (Zoo(TrainingTask.Csv(f.Csv), layout: "4-0-2"), option, "positive"),
            ["zero count"] = (() => f.Rt.SampleAsync(new SamplingOptions { Count = 0 }), option, "Count must be at least 1"),
            ["negative steps"] = (() => f.Rt.SampleAsync(new SamplingOptions { Steps = -3 }), option, "Steps must be at least 1"),
            ["non-finite noise"] = (() => f.Rt.SampleAsync(new SamplingOptions { Noise = double.NaN }), option, "Noise must be finite"),
            ["noise window t = 1 (outside [0, 1))"] = (() => f.Rt.SampleAsync(new SamplingOptions { Noise = 0.1, NoiseWindowStart = 1, NoiseWindowEnd = 1 }), option, "0 <= a < b"),
            ["non-finite guidance lambda"] = (() => f.Rt.SampleAsync(new SamplingOptions { GuidanceLambda = double.NaN, GuidanceTask = TrainingTask.Csv(f.Csv) }), option, "GuidanceLambda must be finite"),
            ["zero iterations"] = (() => WeightFlowModel.TrainAsync(f.Zoo, new FlowTrainingOptions { Iterations = 0 }), option, "Iterations must be >= 1"),
            ["non-finite learning rate"] = (() => WeightFlowModel.TrainAsync(f.Zoo, new FlowTrainingOptions { LearningRate = double.NaN }), option, "LearningRate must be finite"),
            ["EMA decay outside [0, 1)"] = (() => WeightFlowModel.TrainAsync(f.Zoo, new FlowTrainingOptions { EmaDecay = 1.5 }), option, "EmaDecay must lie in [0, 1)"),
            ["holding out every run"] = (() => WeightFlowModel.TrainAsync(f.Zoo, new FlowTrainingOptions { HeldOutRuns = 2 }), option, "HeldOutRuns must be fewer than the zoo's 2 runs"),
            ["zero networks in the BMA"] = (Sync(() => f.Population.BmaAccuracy(TrainingTask.Csv(f.Csv), 0)), option, "k must lie in [1, 3]"),
            ["zero barrier pairs"] = (() => f.Zoo.BarriersAsync(pairs: 0), option, "pairs"),
            // --- numerical guards, writes, locks ---
            ["training loss turning non-finite"] = (() => WeightFlowModel.TrainAsync(f.Zoo, BadInputFiles.Tiny(VelocityModelKind.Mlp).WithLearningRate(1e30)), nonFinite, "is not finite; training stopped"),
            ["output folder is a file (save)"] = (Sync(() => f.Zoo.Save(Path.Combine(f.Csv, "zoo.safetensors"))), WeightFlowErrorKind.WriteFailed, "Could not write"),
            ["output folder is a file (export)"] = (Sync(() => f.Population.ExportOnnx(Path.Combine(f.Csv, "onnx"))), WeightFlowErrorKind.WriteFailed, "Could not write"),
            ["export into a file (onnx)"] = (Sync(() => f.Population.ExportOnnx(f.Csv)), option, "is a file; ExportOnnx writes one file per network into a folder"),
            ["export into a file (safetensors)"] = (Sync(() => f.Population.ExportSafetensors(f.Csv)), option, "is a file; ExportSafetensors writes one file per network into a folder"),
            ["truncated checkpoint (the run's own file)"] = (async () =>
            {
                using var _ = await WeightFlowModel.TrainAsync(f.Zoo, BadInputFiles.Tiny(VelocityModelKind.Mlp).WithCheckpoint(f.Cut(checkpoint)));
            }, corrupt, "It is this run's saved training checkpoint (resuming continues from it), truncated or corrupt: delete it to start the run afresh."),
            ["checkpoint held by another run"] = (async () =>
            {
                var path = Path.Combine(f.Dir, "busy.checkpoint");
                using var held = Storage.@lock(path + ".lock", "the test's hold");
                using var _ = await WeightFlowModel.TrainAsync(f.Zoo, BadInputFiles.Tiny(VelocityModelKind.Mlp).WithCheckpoint(path));
            }, WeightFlowErrorKind.Busy, "is being written by another WeightFlow run"),
        };
    }

    private static readonly string[] CaseNames =
    [
        "unknown task", "missing zoo file", "missing flow file", "missing samples file", "missing CSV file", "MNIST not prepared",
        "a folder given as a file",
        "CSV as zoo", "flow as zoo", "flow checkpoint as zoo", "samples as zoo", "IDX as zoo", "zoo as flow", "samples as flow",
        "CSV as flow", "zoo as samples", "flow as samples", "CSV as samples", "zoo as CSV", "IDX as CSV", "CSV as IDX",
        "CSV ragged row", "CSV non-numeric cell", "CSV NaN", "CSV infinity", "CSV empty file", "CSV non-integer label",
        "CSV labels not 0..C-1", "CSV one class only", "CSV too small for the split", "CSV split with a class missing",
        "IDX wrong magic", "IDX truncated", "IDX header declaring gigabytes",
        "zoo truncated", "flow truncated", "samples truncated", "header: a shape of 2^62 elements",
        "header: gigabyte tensor in a small file", "header: length of 2^62 bytes", "header: JSON nested too deep",
        "flow header: a model far larger than its parameters", "flow header: held-out runs not a list",
        "zoo wrong dtype", "flow wrong dtype", "samples wrong dtype", "zoo unknown format version", "flow unknown format version",
        "samples unknown format version", "zoo header layout not its weights", "samples header layout with a zero width",
        "zoo NaN weights", "flow infinite weights", "samples NaN weights",
        "layout of another depth than the flow", "wider layout an MLP flow cannot sample", "layout not matching the task's features",
        "networks not matching the task's features", "networks not matching the BMA's task", "guidance task not matching the flow's layout",
        "networks not matching the likelihood's flow",
        "zero runs", "too few epochs", "layout with a zero width", "zero count", "negative steps", "non-finite noise",
        "noise window t = 1 (outside [0, 1))", "non-finite guidance lambda", "zero iterations", "non-finite learning rate",
        "EMA decay outside [0, 1)", "holding out every run", "zero networks in the BMA", "zero barrier pairs",
        "training loss turning non-finite", "output folder is a file (save)", "output folder is a file (export)",
        "export into a file (onnx)", "export into a file (safetensors)", "truncated checkpoint (the run's own file)",
        "checkpoint held by another run",
    ];

    public static TheoryData<string> Cases => new(CaseNames);

    [Fact]
    public void Every_row_has_a_case_name_and_every_name_a_row() =>
        Assert.Equal(CaseNames.Order(), _rows.Keys.Order());

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_raises_one_typed_error_naming_the_problem(string @case)
    {
        var (act, kind, phrase) = _rows[@case];
        var e = await Record.ExceptionAsync(act);
        Assert.True(e is not null, $"{@case}: expected an error, but the call succeeded");
        if (kind == WeightFlowErrorKind.InvalidOption && e is ArgumentException a)
        {
            // the facade's contract for options: an ArgumentException naming the property or argument; .NET appends
            // "Actual value was ..." on a second line of an ArgumentOutOfRangeException's message, so the first line
            // is ours and names the problem
            Assert.False(string.IsNullOrEmpty(a.ParamName), $"{@case}: the exception names the argument");
            Assert.Contains(phrase, a.Message.Split('\n')[0]);
        }
        else
        {
            var w = Assert.IsType<WeightFlowException>(e, exactMatch: true);
            Assert.Equal(kind, w.Kind);
            Assert.Contains(phrase, w.Message);
            Assert.DoesNotContain('\n', w.Message);
        }
    }
}

internal static class OptionsCopies
{
    public static FlowTrainingOptions WithLearningRate(this FlowTrainingOptions o, double lr) => Copy(o, lr, o.CheckpointPath);
    public static FlowTrainingOptions WithCheckpoint(this FlowTrainingOptions o, string path) => Copy(o, o.LearningRate, path);

    private static FlowTrainingOptions Copy(FlowTrainingOptions o, double? lr, string? checkpoint) => new()
    {
        Geometry = o.Geometry, Model = o.Model, Width = o.Width, Layers = o.Layers, BatchSize = o.BatchSize, Iterations = o.Iterations,
        WarmupSteps = o.WarmupSteps, HeldOutRuns = o.HeldOutRuns, Seed = o.Seed, LearningRate = lr, CheckpointPath = checkpoint,
    };
}
