using TorchSharp;
using WeightFlow;
using static TorchSharp.torch;

namespace WeightFlow.CSharp;

/// <summary>How a population did on a task's test split: per-network figures (accuracy and cross-entropy, raw and
/// calibrated on the validation split) and the population's (BMA, diversity), as a row of <c>weightflow eval</c>.</summary>
public sealed class PopulationEvaluation
{
    internal PopulationEvaluation(Evaluation.Row row, float[] accuracy, float[] crossEntropy, float[] calibrated)
    {
        Accuracy = accuracy;
        CrossEntropy = crossEntropy;
        CalibratedCrossEntropy = calibrated;
        AccuracyMean = row.AccuracyMean;
        AccuracyMin = row.AccuracyMin;
        AccuracyStd = row.AccuracyStd;
        BmaK = row.Bma.K;
        BmaAccuracy = row.Bma.Accuracy;
        BmaNll = row.Bma.Nll;
        BmaCurveK = row.BmaCurve.Select(p => p.K).ToArray();
        BmaCurveAccuracy = row.BmaCurve.Select(p => p.Accuracy).ToArray();
        Diversity = row.Diversity is { } d ? d.Value : null;
    }

    /// <summary>Test accuracy of each network.</summary>
    public IReadOnlyList<float> Accuracy { get; }
    /// <summary>Mean test cross-entropy of each network (softmax of its logits).</summary>
    public IReadOnlyList<float> CrossEntropy { get; }
    /// <summary>The same after temperature scaling fitted on the validation split.</summary>
    public IReadOnlyList<float> CalibratedCrossEntropy { get; }
    /// <summary>Mean test accuracy.</summary>
    public double AccuracyMean { get; }
    /// <summary>Lowest test accuracy.</summary>
    public double AccuracyMin { get; }
    /// <summary>Standard deviation of the test accuracies (0 for one network).</summary>
    public double AccuracyStd { get; }
    /// <summary>Networks averaged in <see cref="BmaAccuracy"/>: min(bmaK, Count).</summary>
    public int BmaK { get; }
    /// <summary>Test accuracy of the Bayesian model average (thesis eq. 2.1) of <see cref="BmaK"/> networks.</summary>
    public double BmaAccuracy { get; }
    /// <summary>Test negative log-likelihood of the same average.</summary>
    public double BmaNll { get; }
    /// <summary>The k of each point of the BMA curve (1, 2, 4, ..., <see cref="BmaK"/>).</summary>
    public IReadOnlyList<int> BmaCurveK { get; }
    /// <summary>The BMA accuracy at each k of <see cref="BmaCurveK"/>.</summary>
    public IReadOnlyList<double> BmaCurveAccuracy { get; }
    /// <summary>Mean pairwise Jensen-Shannon divergence of the calibrated predictions (D.1); null for one network.</summary>
    public double? Diversity { get; }
}

/// <summary>A set of networks of one layout (sampled from a flow or read from a samples file), their flat weights held
/// on the CPU in native memory.</summary>
public sealed class NetworkPopulation : IDisposable
{
    private readonly Layout _layout;
    private readonly Tensor _theta;
    private readonly Dictionary<string, string> _header;
    private bool _disposed;

    internal NetworkPopulation(Layout layout, Tensor theta, Dictionary<string, string> header, int droppedNonFinite)
    {
        _layout = layout;
        _theta = theta;
        _header = header;
        DroppedNonFinite = droppedNonFinite;
    }

    internal Layout CoreLayout { get { ThrowIfDisposed(); return _layout; } }
    internal Tensor Theta { get { ThrowIfDisposed(); return _theta; } }

    /// <summary>Reads a samples file written by <see cref="Save"/> or <c>weightflow sample</c>.</summary>
    /// <param name="path">The samples file.</param>
    public static NetworkPopulation Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        Fs.EnsureLoaded();
        var loaded = Fs.Guard(() => Sampling.load(path));
        var get = loaded.Item3;
        var header = new Dictionary<string, string>();
        foreach (var key in new[] { "space", "flow.kind", "heldout_runs", "non_finite_dropped" })
        {
            try { header[key] = get.Invoke(key); }
            catch (Exception e) when (e is not OutOfMemoryException) { /* an optional entry */ }
        }
        var dropped = header.TryGetValue("non_finite_dropped", out var d) && int.TryParse(d, out var n) ? n : 0;
        return new NetworkPopulation(loaded.Item1, loaded.Item2.cpu().to_type(float32), header, dropped);
    }

    /// <summary>Writes the population as a samples file (atomically), which <c>weightflow eval</c> reads.</summary>
    /// <param name="path">The file to write.</param>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ThrowIfDisposed();
        var header = new Dictionary<string, string>(_header)
        {
            ["weightflow.kind"] = Sampling.Kind,
            ["layout"] = _layout.ToString(),
            ["count"] = Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        Fs.Guard(() => Storage.write(path, new Microsoft.FSharp.Collections.FSharpMap<string, string>(header.Select(kv => Tuple.Create(kv.Key, kv.Value))),
            Fs.List(new[] { Tuple.Create("theta", _theta) })));
    }

    /// <summary>Number of networks.</summary>
    public int Count { get { ThrowIfDisposed(); return (int)_theta.shape[0]; } }

    /// <summary>The networks' MLP layout, e.g. "30-16-16-2".</summary>
    public string Layout { get { ThrowIfDisposed(); return _layout.ToString(); } }

    /// <summary>Parameters per network.</summary>
    public int ParameterCount { get { ThrowIfDisposed(); return LayoutModule.paramCount(_layout); } }

    /// <summary>Samples dropped because a coordinate came out NaN or infinite.</summary>
    public int DroppedNonFinite { get; }

    /// <summary>Flat weights of network <paramref name="index"/>, in the layout's documented order (canonical weights
    /// for Normalized and Geometric flows).</summary>
    /// <param name="index">In [0, <see cref="Count"/>).</param>
    public float[] Weights(int index)
    {
        ThrowIfDisposed();
        if (index < 0 || index >= Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"Index must lie in [0, {Count}).");
        using var row = _theta[index];
        return row.cpu().data<float>().ToArray();
    }

    /// <summary>Evaluates every network on a task's test split (calibrated on its validation split): the core's
    /// <c>Evaluation.evaluate</c> without a zoo (function-space columns), as <c>weightflow eval</c>.</summary>
    /// <param name="task">The task; its layout must match the networks'.</param>
    /// <param name="splitSeed">Seed of the data split: the zoo's seed, or test rows may be rows the zoo trained on.</param>
    /// <param name="bmaK">Networks in the BMA column (fewer when the population is smaller). At least 1.</param>
    public PopulationEvaluation Evaluate(TrainingTask task, long splitSeed = 0, int bmaK = 16)
    {
        ArgumentNullException.ThrowIfNull(task);
        ThrowIfDisposed();
        if (bmaK < 1) throw new ArgumentOutOfRangeException(nameof(bmaK), bmaK, "bmaK must be at least 1.");
        var data = task.Load(splitSeed);
        var config = Evaluation.defaultConfig;
        config = new Evaluation.EvalConfig(calibration: config.Calibration, bma: config.Bma, bmaK: bmaK, alignment: config.Alignment,
            diversityMax: config.DiversityMax, floorSize: config.FloorSize, projections: config.Projections,
            fidelity: config.Fidelity, probeRows: config.ProbeRows, seed: config.Seed);
        return Fs.Guard(() =>
        {
            var ctx = Evaluation.prepare(config, _layout, data, Microsoft.FSharp.Core.FSharpOption<Tuple<Tensor, Tensor, Tensor>>.None);
            var row = Evaluation.evaluate(ctx, "population", _theta);
            using var scope = NewDisposeScope();
            var m = Metrics.compute(config.Calibration, _layout, ctx.CalibrationRows, data.Test, _theta);
            return new PopulationEvaluation(row, ToArray(m.Accuracy), ToArray(m.CrossEntropy), ToArray(m.CalibratedCrossEntropy));
        });
    }

    /// <summary>Test accuracy of the Bayesian model average (thesis eq. 2.1, probability averaging of the calibrated
    /// predictions) of k networks, the mean over random k-subsets (the core's <c>Bma.point</c>).</summary>
    /// <param name="task">The task.</param>
    /// <param name="k">Networks averaged, in [1, <see cref="Count"/>].</param>
    /// <param name="splitSeed">Seed of the data split (the zoo's seed).</param>
    public double BmaAccuracy(TrainingTask task, int k, long splitSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(task);
        ThrowIfDisposed();
        if (k < 1 || k > Count) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must lie in [1, {Count}] (the population's size).");
        var data = task.Load(splitSeed);
        FitsTask(data);
        using var scope = NewDisposeScope();
        var m = Metrics.compute(Evaluation.defaultConfig.Calibration, _layout, Calibration.rowsOf(Evaluation.defaultConfig.Calibration, data), data.Test, _theta);
        return Bma.point(Bma.defaultConfig, k, m.CalibratedLogits, data.Test.Y).Accuracy;
    }

    /// <summary>Functional diversity (D.1): the mean pairwise Jensen-Shannon divergence (nats) of the networks'
    /// calibrated predictions on the task's test split (the core's <c>Diversity.ofLogits</c>).</summary>
    /// <param name="task">The task.</param>
    /// <param name="splitSeed">Seed of the data split (the zoo's seed).</param>
    /// <returns>The diversity; null for fewer than two networks.</returns>
    public double? Diversity(TrainingTask task, long splitSeed = 0)
    {
        ArgumentNullException.ThrowIfNull(task);
        ThrowIfDisposed();
        var data = task.Load(splitSeed);
        FitsTask(data);
        using var scope = NewDisposeScope();
        var m = Metrics.compute(Evaluation.defaultConfig.Calibration, _layout, Calibration.rowsOf(Evaluation.defaultConfig.Calibration, data), data.Test, _theta);
        return WeightFlow.Diversity.ofLogits(m.CalibratedLogits) is { } d ? d.Value : null;
    }

    /// <summary>Logits of network <paramref name="index"/> on inputs (one row per example), computed by WeightFlow's
    /// own batched forward pass (<c>Mlp.forward</c>: x·Wᵀ + b per layer, ReLU between layers).</summary>
    /// <param name="index">In [0, <see cref="Count"/>).</param>
    /// <param name="inputs">[rows, input width] features (standardized as the task's data are).</param>
    /// <returns>[rows, classes] logits.</returns>
    public float[,] Logits(int index, float[,] inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ThrowIfDisposed();
        if (index < 0 || index >= Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"Index must lie in [0, {Count}).");
        var width = _layout.Widths[0];
        if (inputs.GetLength(1) != width)
            throw new ArgumentOutOfRangeException(nameof(inputs), inputs.GetLength(1), $"Inputs must have {width} columns (layout {_layout}).");
        var rows = inputs.GetLength(0);
        var flat = new float[rows * width];
        Buffer.BlockCopy(inputs, 0, flat, 0, flat.Length * sizeof(float));
        using var scope = NewDisposeScope();
        using var noGrad = torch.no_grad();
        var x = tensor(flat, new long[] { rows, width });
        var logits = Mlp.forward(_layout, _theta.narrow(0, index, 1), x).squeeze(0).contiguous();
        var values = logits.data<float>().ToArray();
        var classes = (int)logits.shape[1];
        var result = new float[rows, classes];
        Buffer.BlockCopy(values, 0, result, 0, values.Length * sizeof(float));
        return result;
    }

    /// <summary>Writes every network as a standalone ONNX model, <c>{stem}-0000.onnx</c>, ... in
    /// <paramref name="directory"/>: the core's <c>NetworkExport.writeAllOnnx</c>, as <c>weightflow export</c>. Each
    /// model maps <c>input</c> [batch, input width] float32 to <c>logits</c> [batch, classes] (MatMul, Add, ReLU;
    /// opset 13), so ONNX Runtime runs it without WeightFlow or libtorch.</summary>
    /// <param name="directory">The output folder (created if missing; an existing file there is an
    /// <see cref="ArgumentException"/>).</param>
    /// <param name="stem">The files' name before the index.</param>
    /// <returns>The files, in network order.</returns>
    public IReadOnlyList<string> ExportOnnx(string directory, string stem = "network")
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(stem);
        ThrowIfDisposed();
        NotAFile(directory, nameof(ExportOnnx));
        return Fs.Guard(() => NetworkExport.writeAllOnnx(directory, stem, _layout, _theta));
    }

    /// <summary>Writes every network as a safetensors file, <c>{stem}-0000.safetensors</c>, ..., with PyTorch's
    /// <c>nn.Sequential(Linear, ReLU, ..., Linear)</c> names ("0.weight" [out, in], "0.bias", "2.weight", ...), so
    /// <c>load_state_dict</c> reads it: the core's <c>NetworkExport.writeAllSafetensors</c>.</summary>
    /// <param name="directory">The output folder (created if missing; an existing file there is an
    /// <see cref="ArgumentException"/>).</param>
    /// <param name="stem">The files' name before the index.</param>
    /// <returns>The files, in network order.</returns>
    public IReadOnlyList<string> ExportSafetensors(string directory, string stem = "network")
    {
        ArgumentNullException.ThrowIfNull(directory);
        ArgumentNullException.ThrowIfNull(stem);
        ThrowIfDisposed();
        NotAFile(directory, nameof(ExportSafetensors));
        return Fs.Guard(() => NetworkExport.writeAllSafetensors(directory, stem, _layout, _theta));
    }

    // an existing file as the folder failed only at the first write, as WriteFailed with advice about disk space
    private static void NotAFile(string directory, string method)
    {
        if (File.Exists(directory))
            throw new ArgumentException(
                $"{directory} is a file; {method} writes one file per network into a folder. Pass a folder (created if absent).",
                nameof(directory));
    }

    private static float[] ToArray(Tensor t)
    {
        using var c = t.detach().cpu().to_type(float32);
        return c.data<float>().ToArray();
    }

    /// <summary>The task's data must fit the networks (inputs = features, outputs = classes): a
    /// <see cref="WeightFlowException"/> of kind <see cref="WeightFlowErrorKind.Mismatch"/> otherwise.</summary>
    private void FitsTask(Dataset data) => Fs.Guard(() => DatasetModule.checkFits("The networks", _layout, data));

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <summary>Releases the native tensor memory.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _theta.Dispose();
    }
}
