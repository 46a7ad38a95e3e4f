using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using WeightFlow.CSharp;
using Xunit;

namespace FacadeTests;

/// <summary>Sampled networks exported as ONNX models run in ONNX Runtime (no WeightFlow, no libtorch) and give
/// WeightFlow's own logits.</summary>
public sealed class ExportTests : IClassFixture<TinyZoo>
{
    private readonly WeightZoo _zoo;
    public ExportTests(TinyZoo fixture) => _zoo = fixture.Zoo;

    private static float[,] Inputs(int rows, int width, int seed)
    {
        var rng = new Random(seed);
        var x = new float[rows, width];
        for (var i = 0; i < rows; i++)
            for (var j = 0; j < width; j++)
                x[i, j] = (float)(2 * rng.NextDouble() - 1) * 2; // standardized features lie in a few units of 0
        return x;
    }

    [Fact]
    public async Task Onnx_runtime_runs_exported_samples_with_WeightFlows_logits()
    {
        var options = new FlowTrainingOptions
        {
            Geometry = FlowGeometry.Euclidean, Model = VelocityModelKind.Mlp, Width = 32, Layers = 1, BatchSize = 8, Iterations = 10,
            WarmupSteps = 2, HeldOutRuns = 1, Seed = 3,
        };
        using var flow = await WeightFlowModel.TrainAsync(_zoo, options);
        using var samples = await flow.SampleAsync(new SamplingOptions { Count = 3, Steps = 4, Seed = 2 });
        var dir = Path.Combine(Path.GetTempPath(), $"wf-cs-onnx-{Guid.NewGuid():N}");
        try
        {
            var files = samples.ExportOnnx(dir, "sample");
            Assert.Equal(3, files.Count);
            Assert.EndsWith("sample-0002.onnx", files[2]);
            var x = Inputs(7, 30, 1);
            var flat = x.Cast<float>().ToArray();
            for (var i = 0; i < files.Count; i++)
            {
                using var session = new InferenceSession(files[i]);
                var input = new DenseTensor<float>(flat, [7, 30]);
                using var results = session.Run([NamedOnnxValue.CreateFromTensor("input", input)]);
                var onnx = results.Single(r => r.Name == "logits").AsTensor<float>();
                Assert.Equal(new[] { 7, 2 }, onnx.Dimensions.ToArray());
                var own = samples.Logits(i, x);
                for (var r = 0; r < 7; r++)
                    for (var c = 0; c < 2; c++)
                    {
                        // Both sides are float32 dot products of at most 30 terms in different summation orders:
                        // the rounding differences are ~n·2⁻²⁴·Σ|terms| ≈ 1e-5 for logits of a few units.
                        var tol = 1e-4 + 1e-4 * Math.Abs(own[r, c]);
                        Assert.True(Math.Abs(onnx[r, c] - own[r, c]) <= tol, $"network {i}, row {r}, class {c}: ONNX {onnx[r, c]} vs WeightFlow {own[r, c]}");
                    }
            }
            // Different networks give different logits (the check above compares something).
            Assert.NotEqual(samples.Logits(0, x)[0, 0], samples.Logits(1, x)[0, 0]);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Safetensors_export_uses_PyTorch_sequential_names_and_orientation()
    {
        using var population = _zoo.ToPopulation();
        var dir = Path.Combine(Path.GetTempPath(), $"wf-cs-st-{Guid.NewGuid():N}");
        try
        {
            var files = population.ExportSafetensors(dir);
            Assert.Equal(_zoo.Count, files.Count);
            var bytes = File.ReadAllBytes(files[0]);
            var headerLength = (int)BitConverter.ToInt64(bytes, 0);
            using var header = JsonDocument.Parse(bytes.AsMemory(8, headerLength));
            int[] Shape(string name) => header.RootElement.GetProperty(name).GetProperty("shape").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(new[] { 16, 30 }, Shape("0.weight")); // [out, in], as torch.nn.Linear
            Assert.Equal(new[] { 16 }, Shape("0.bias"));
            Assert.Equal(new[] { 16, 16 }, Shape("2.weight"));
            Assert.Equal(new[] { 2, 16 }, Shape("4.weight"));
            Assert.Equal(new[] { 2 }, Shape("4.bias"));
            // The last bias is the flat vector's last two values.
            var offset = header.RootElement.GetProperty("4.bias").GetProperty("data_offsets")[0].GetInt32();
            var last = new[] { BitConverter.ToSingle(bytes, 8 + headerLength + offset), BitConverter.ToSingle(bytes, 8 + headerLength + offset + 4) };
            Assert.Equal(_zoo.Weights(0)[^2..], last);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Logits_refuse_inputs_of_the_wrong_width()
    {
        using var population = _zoo.ToPopulation();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => population.Logits(0, new float[2, 29]));
        Assert.Equal("inputs", e.ParamName);
    }
}
