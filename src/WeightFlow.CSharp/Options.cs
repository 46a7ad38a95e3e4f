using WeightFlow;

namespace WeightFlow.CSharp;

/// <summary>The space a flow lives in (thesis §6.1-6.2).</summary>
public enum FlowGeometry
{
    /// <summary>Raw weights in R^P with a Gaussian path.</summary>
    Euclidean,
    /// <summary>Canonical (normalized) weights with a straight path, projected back onto the canonical set.</summary>
    Normalized,
    /// <summary>Canonical weights on a product of spheres with geodesic paths (the thesis' main flow).</summary>
    Geometric,
}

/// <summary>How training pairs prior samples with target networks (thesis §6.3).</summary>
public enum Coupling
{
    /// <summary>Independent pairs.</summary>
    Independent,
    /// <summary>Minibatch optimal transport.</summary>
    MinibatchOt,
    /// <summary>Each target aligned to its prior sample by the network's symmetries.</summary>
    SymmetryAware,
    /// <summary>Symmetry alignment, then minibatch optimal transport.</summary>
    SymmetryAwareOt,
}

/// <summary>The network that predicts the flow's endpoint.</summary>
public enum VelocityModelKind
{
    /// <summary>Relational Transformer over the neural graph (the thesis' model; runs on wider layouts).</summary>
    RelationalTransformer,
    /// <summary>Principal neighbourhood aggregation over the neural graph (runs on wider layouts).</summary>
    Pna,
    /// <summary>A residual MLP on the flat weights (the trained layout only).</summary>
    Mlp,
}

/// <summary>The ODE solver of sampling.</summary>
public enum Solver
{
    /// <summary>Euler (first order; one field evaluation per step).</summary>
    Euler,
    /// <summary>Heun (second order; two evaluations per step).</summary>
    Heun,
    /// <summary>Classical Runge-Kutta (fourth order; four evaluations per step).</summary>
    Rk4,
}

/// <summary>Options for training a flow on a zoo. Defaults are the core's CPU preset (<c>TrainingConfig.cpu</c>, the
/// <c>weightflow train</c> defaults): 1000 iterations of batch 32, Adam (the preset's learning rate) with 100 warm-up
/// steps and cosine decay, clipping at gradient norm 1, EMA 0.999, σ 1e-4, prior std 0.1, Beta(1, 2) times, the
/// preset's prediction.</summary>
public sealed class FlowTrainingOptions
{
    /// <summary>The flow's space. Default <see cref="FlowGeometry.Geometric"/> (as <c>weightflow train</c>).</summary>
    public FlowGeometry Geometry { get; init; } = FlowGeometry.Geometric;
    /// <summary>The velocity model. Default <see cref="VelocityModelKind.RelationalTransformer"/>.</summary>
    public VelocityModelKind Model { get; init; } = VelocityModelKind.RelationalTransformer;
    /// <summary>The coupling; null takes the preset's (symmetry-aware for the Normalized and Geometric flows with the
    /// Relational Transformer or PNA, independent otherwise: measured on UCI, see the README's "UCI flows against baselines").</summary>
    public Coupling? Coupling { get; init; }
    /// <summary>Model width; null takes the preset's (RT and PNA 16, MLP 512). At least 1.</summary>
    public int? Width { get; init; }
    /// <summary>Model depth (layers, or MLP blocks); null takes the preset's 3. At least 1.</summary>
    public int? Layers { get; init; }
    /// <summary>Training steps. Default 1000; at least 1.</summary>
    public int Iterations { get; init; } = 1000;
    /// <summary>Networks per step. Default 32; at least 1.</summary>
    public int BatchSize { get; init; } = 32;
    /// <summary>Adam's peak learning rate; null takes the preset's (3e-3 for the Normalized and Geometric flows with
    /// the Relational Transformer or PNA, 1e-3 otherwise: measured on UCI, see the README's "UCI flows against
    /// baselines"). Positive.</summary>
    public double? LearningRate { get; init; }
    /// <summary>Linear warm-up steps before the cosine decay; 0 keeps the learning rate constant. Default 100.</summary>
    public int WarmupSteps { get; init; } = 100;
    /// <summary>Gradient-norm clipping; null turns it off. Default 1; positive.</summary>
    public double? ClipNorm { get; init; } = 1.0;
    /// <summary>Decay of the weights' exponential moving average (the saved model). Default 0.999; in [0, 1).</summary>
    public double EmaDecay { get; init; } = 0.999;
    /// <summary>σ of the Gaussian path (Euclidean and Normalized flows). Default 1e-4; at least 0.</summary>
    public double Sigma { get; init; } = 1e-4;
    /// <summary>Standard deviation of the Gaussian prior. Default 0.1; positive.</summary>
    public double PriorStd { get; init; } = 0.1;
    /// <summary>With <see cref="CheckpointPath"/>: a checkpoint every this many steps. Default 250; at least 1.</summary>
    public int CheckpointEvery { get; init; } = 250;
    /// <summary>Seed of the model's initialisation, minibatches, prior samples and times. Default 0.</summary>
    public long Seed { get; init; }
    /// <summary>The zoo's runs with the largest ids held out from training (for evaluation). Default 10 (as
    /// <c>weightflow train</c>); at least 0 and fewer than the zoo's runs.</summary>
    public int HeldOutRuns { get; init; } = 10;
    /// <summary>A checkpoint file: written every <see cref="CheckpointEvery"/> steps, on cancellation and at the end,
    /// and resumed from when it exists (a resumed run reproduces the uninterrupted run's losses). Null: none.</summary>
    public string? CheckpointPath { get; init; }
    /// <summary>The device: "cpu" (default) or "cuda[:N]" in a CUDA build.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property (the core's rules
    /// of <c>TrainingConfig.validate</c>, plus the ranges of the settings it takes on trust).</summary>
    public void Validate()
    {
        if (Width is < 1) throw Bad(nameof(Width), Width, "Width must be at least 1.");
        if (Layers is < 1) throw Bad(nameof(Layers), Layers, "Layers must be at least 1.");
        if (Iterations < 1) throw Bad(nameof(Iterations), Iterations, "Iterations must be >= 1.");
        if (BatchSize < 1) throw Bad(nameof(BatchSize), BatchSize, "BatchSize must be >= 1.");
        if (LearningRate is double lr && (!(lr > 0) || double.IsInfinity(lr))) throw Bad(nameof(LearningRate), LearningRate, "LearningRate must be finite and > 0.");
        if (WarmupSteps < 0) throw Bad(nameof(WarmupSteps), WarmupSteps, "WarmupSteps must be >= 0 (0: constant learning rate).");
        if (ClipNorm is double c && !(c > 0)) throw Bad(nameof(ClipNorm), ClipNorm, "ClipNorm must be > 0, or null for no clipping.");
        if (!(EmaDecay >= 0 && EmaDecay < 1)) throw Bad(nameof(EmaDecay), EmaDecay, "EmaDecay must lie in [0, 1).");
        if (!(Sigma >= 0) || double.IsInfinity(Sigma)) throw Bad(nameof(Sigma), Sigma, "Sigma must be finite and >= 0.");
        if (!(PriorStd > 0) || double.IsInfinity(PriorStd)) throw Bad(nameof(PriorStd), PriorStd, "PriorStd must be finite and > 0.");
        if (CheckpointEvery < 1) throw Bad(nameof(CheckpointEvery), CheckpointEvery, "CheckpointEvery must be >= 1.");
        if (HeldOutRuns < 0) throw Bad(nameof(HeldOutRuns), HeldOutRuns, "HeldOutRuns must be >= 0.");
        if (string.IsNullOrWhiteSpace(Device)) throw Bad(nameof(Device), Device, "Device must be \"cpu\" or \"cuda[:N]\".");
    }

    internal static ArgumentOutOfRangeException Bad(string name, object? value, string message) => new(name, value, message);

    internal VelocityKind Kind => Model switch
    {
        VelocityModelKind.RelationalTransformer => VelocityKind.Rt,
        VelocityModelKind.Pna => VelocityKind.Pna,
        _ => VelocityKind.Mlp,
    };

    internal FlowKind FlowKind => Geometry switch
    {
        FlowGeometry.Euclidean => FlowKind.Euclidean,
        FlowGeometry.Normalized => FlowKind.Normalized,
        _ => FlowKind.Geometric,
    };

    /// <summary>The core's record, field by field from the CPU preset.</summary>
    internal TrainingConfig ToCore()
    {
        var preset = TrainingConfigModule.cpu(FlowKind, Kind);
        var size = VelocityConfigModule.size(preset.Model);
        return new TrainingConfig(
            flow: FlowKind,
            sigma: Sigma,
            coupling: Coupling switch
            {
                null => preset.Coupling,
                WeightFlow.CSharp.Coupling.Independent => WeightFlow.Coupling.Independent,
                WeightFlow.CSharp.Coupling.MinibatchOt => WeightFlow.Coupling.MinibatchOt,
                WeightFlow.CSharp.Coupling.SymmetryAware => WeightFlow.Coupling.SymmetryAware,
                _ => WeightFlow.Coupling.SymmetryAwareOt,
            },
            time: preset.Time,
            prior: new Prior(std: PriorStd, centre: PriorCentre.Origin),
            priorTemperature: 1.0,
            prediction: preset.Prediction,
            preconditioning: preset.Preconditioning,
            model: VelocityConfigModule.defaults(Kind, Width ?? size.Item1, Layers ?? size.Item2),
            iterations: Iterations,
            batchSize: BatchSize,
            learningRate: LearningRate ?? preset.LearningRate,
            schedule: WarmupSteps == 0 ? Schedule.Constant : Schedule.NewWarmupCosine(WarmupSteps),
            clipNorm: Fs.Val(ClipNorm),
            emaDecay: EmaDecay,
            checkpointEvery: CheckpointEvery,
            seed: Seed);
    }
}

/// <summary>Progress of flow training, after every step.</summary>
/// <param name="Step">Steps done (including those of a resumed checkpoint).</param>
/// <param name="Total">Steps in all.</param>
/// <param name="Loss">This step's loss.</param>
/// <param name="IterationsPerSecond">Steps per second of this call so far.</param>
public sealed record FlowTrainingProgress(int Step, int Total, double Loss, double IterationsPerSecond);

/// <summary>Options for sampling networks from a flow. Defaults are the core's (<c>SamplingConfig.defaults</c>, the
/// <c>weightflow sample</c> defaults): 100 networks, 100 Euler steps, no noise, no guidance, the trained layout,
/// batches of 64, temperature 1, seed 0.</summary>
public sealed class SamplingOptions
{
    /// <summary>Networks to sample. Default 100; at least 1.</summary>
    public int Count { get; init; } = 100;
    /// <summary>Solver steps. Default 100; at least 1.</summary>
    public int Steps { get; init; } = 100;
    /// <summary>The solver. Default <see cref="Solver.Euler"/>.</summary>
    public Solver Solver { get; init; } = Solver.Euler;
    /// <summary>Noise scale ε injected inside the window (added variance ε² per unit time); 0 (default) samples
    /// deterministically. Finite and at least 0.</summary>
    public double Noise { get; init; }
    /// <summary>Start a of the noise window [a, b). Default 0.8; 0 &lt;= a &lt; b.</summary>
    public double NoiseWindowStart { get; init; } = 0.8;
    /// <summary>End b of the noise window [a, b). Default 1; a &lt; b &lt;= 1.</summary>
    public double NoiseWindowEnd { get; init; } = 1.0;
    /// <summary>Guidance strength λ on <see cref="GuidanceTask"/>'s training loss; 0 (default) turns guidance off.
    /// Finite and at least 0.</summary>
    public double GuidanceLambda { get; init; }
    /// <summary>The task whose training loss guides the samples (needed when <see cref="GuidanceLambda"/> &gt; 0).</summary>
    public TrainingTask? GuidanceTask { get; init; }
    /// <summary>Seed of the guidance task's data split (use the zoo's seed). Default 0.</summary>
    public long GuidanceSplitSeed { get; init; }
    /// <summary>Training rows per guidance minibatch. Default 64; at least 1.</summary>
    public int GuidanceBatch { get; init; } = 64;
    /// <summary>The sampled networks' layout, e.g. "30-32-32-2" (same depth; RT and PNA flows only); null (default)
    /// takes the layout the flow was trained on.</summary>
    public string? TargetLayout { get; init; }
    /// <summary>Networks integrated together. Default 64; at least 1.</summary>
    public int BatchSize { get; init; } = 64;
    /// <summary>Sampling temperature τ on the prior draw: x0 = c + τ·(x0 − c) about the prior's centre c (0, or the
    /// fitted mean of a fitted/standardized prior), before the flow integrates it. Default 1 (the prior the flow was
    /// trained on; samples identical to an untempered call); 0 gives one network for every sample; values below 1
    /// trade diversity for samples nearer the flow of the centre. For Normalized and Geometric flows with the isotropic
    /// prior only the canonical prior's biases are scaled: its neuron directions are uniform on their spheres and have
    /// no centre to contract towards (core <c>Prior.sampleTempered</c>). Finite and at least 0.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Seed of the prior samples, noise and guidance minibatches. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property (the core's rules of
    /// <c>SamplingConfig.validate</c> and <c>Transform.checkNoise</c>).</summary>
    public void Validate()
    {
        if (Count < 1) throw FlowTrainingOptions.Bad(nameof(Count), Count, "Count must be at least 1.");
        if (Steps < 1) throw FlowTrainingOptions.Bad(nameof(Steps), Steps, "Steps must be at least 1.");
        if (BatchSize < 1) throw FlowTrainingOptions.Bad(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        if (!(Noise >= 0) || double.IsInfinity(Noise)) throw FlowTrainingOptions.Bad(nameof(Noise), Noise, "Noise must be finite and >= 0.");
        if (!(NoiseWindowStart >= 0 && NoiseWindowStart < NoiseWindowEnd)) throw FlowTrainingOptions.Bad(nameof(NoiseWindowStart), NoiseWindowStart, "The noise window [a, b) needs 0 <= a < b.");
        if (!(NoiseWindowEnd <= 1)) throw FlowTrainingOptions.Bad(nameof(NoiseWindowEnd), NoiseWindowEnd, "The noise window [a, b) needs b <= 1.");
        if (!(GuidanceLambda >= 0) || double.IsInfinity(GuidanceLambda)) throw FlowTrainingOptions.Bad(nameof(GuidanceLambda), GuidanceLambda, "GuidanceLambda must be finite and >= 0.");
        if (GuidanceLambda > 0 && GuidanceTask is null) throw FlowTrainingOptions.Bad(nameof(GuidanceTask), null, "Guidance needs GuidanceTask (the task whose training loss guides the samples).");
        if (GuidanceBatch < 1) throw FlowTrainingOptions.Bad(nameof(GuidanceBatch), GuidanceBatch, "GuidanceBatch must be at least 1.");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw FlowTrainingOptions.Bad(nameof(Temperature), Temperature, "Temperature must be finite and >= 0 (1 = the prior as trained, 0 = its centre).");
        if (TargetLayout is not null && string.IsNullOrWhiteSpace(TargetLayout)) throw FlowTrainingOptions.Bad(nameof(TargetLayout), TargetLayout, "TargetLayout must be a layout such as \"30-16-16-2\", or null.");
    }

    /// <summary>The core's record, field by field from <c>SamplingConfig.defaults</c>.</summary>
    internal SamplingConfig ToCore()
    {
        var d = SamplingConfigModule.defaults(Count);
        return new SamplingConfig(
            count: Count,
            steps: Steps,
            method: Solver switch { Solver.Euler => Method.Euler, Solver.Heun => Method.Heun, _ => Method.Rk4 },
            rule: d.Rule,
            noise: Noise != 0 ? Fs.Ref(new Transform.Noise(eps: Noise, start: NoiseWindowStart, stop: NoiseWindowEnd)) : Microsoft.FSharp.Core.FSharpOption<Transform.Noise>.None,
            guidance: GuidanceLambda > 0 && GuidanceTask is not null
                ? Fs.Ref(new TaskGuidance(lambda: GuidanceLambda, at: GuideAt.State, data: GuidanceTask.Load(GuidanceSplitSeed), batch: GuidanceBatch))
                : Microsoft.FSharp.Core.FSharpOption<TaskGuidance>.None,
            layout: TargetLayout is null ? Microsoft.FSharp.Core.FSharpOption<Layout>.None : Fs.Ref(LayoutModule.parse(TargetLayout)),
            batchSize: BatchSize,
            temperature: Temperature,
            seed: Seed);
    }
}

/// <summary>Options for log-likelihoods under a Euclidean flow (as <c>weightflow loglik</c>).</summary>
public sealed class LikelihoodOptions
{
    /// <summary>RK4 steps from t = 1 back to 0. Default 16; at least 1.</summary>
    public int Steps { get; init; } = 16;
    /// <summary>Hutchinson probes of the divergence; 0 computes it exactly; null (default) is exact up to 64
    /// parameters and 8 Rademacher probes above.</summary>
    public int? Probes { get; init; }
    /// <summary>Networks integrated together. Default 16; at least 1.</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Seed of the probes. Default 0.</summary>
    public long Seed { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first invalid property.</summary>
    public void Validate()
    {
        if (Steps < 1) throw FlowTrainingOptions.Bad(nameof(Steps), Steps, "Steps must be at least 1.");
        if (Probes is < 0) throw FlowTrainingOptions.Bad(nameof(Probes), Probes, "Probes must be >= 0 (0: exact divergence).");
        if (BatchSize < 1) throw FlowTrainingOptions.Bad(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
    }
}
