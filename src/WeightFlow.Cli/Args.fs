/// The command line, as Argu unions. Each subcommand's flags map onto the config record of the same name.
module WeightFlow.Cli.Args

open Argu

type ZooArgs =
    | [<Mandatory>] Task of string
    | Layout of string
    | Runs of int
    | Epochs of int
    | Batch_Size of int
    | [<AltCommandLine("--lr")>] Learning_Rate of float
    | Seed of int
    | Device of string
    | [<AltCommandLine("-o")>] Out of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Task _ -> "uci | mnist | fashion-mnist | csv:PATH (features + integer label in the last column)."
            | Batch_Size _ -> "minibatch size (default: the task preset)."
            | Learning_Rate _ -> "learning rate (default: the task preset; --lr for short)."
            | Layout _ -> "MLP widths, e.g. 30-16-16-2 (default: the task's thesis layout)."
            | Runs _ -> "number of independent runs trained at once (default: the task preset)."
            | Epochs _ -> "training epochs (default: the task preset)."
            | Seed _ -> "random seed (default 0)."
            | Device _ -> "cpu (default) or cuda[:N]."
            | Out _ -> "output zoo file (.safetensors; default zoo-TASK.safetensors in the current folder, e.g. zoo-uci.safetensors)."
            | Json -> "print one JSON object on stdout instead of tables."

type InfoArgs =
    | [<MainCommand; Mandatory>] File of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | File _ -> "a zoo file."
            | Json -> "print one JSON object on stdout."

type PrepareArgs =
    | Dir of string
    interface IArgParserTemplate with
        member a.Usage = match a with Dir _ -> "data folder (default: data/ in the repository or current folder)."

type DataArgs =
    | [<CliPrefix(CliPrefix.None)>] Prepare of ParseResults<PrepareArgs>
    interface IArgParserTemplate with
        member a.Usage = match a with Prepare _ -> "download MNIST (10k subset) and Fashion-MNIST from the registries and write IDX files."

/// The alignment methods as written on the command line (Argu renders `Weight_Matching` as weight-matching).
type MethodArg =
    | Weight_Matching
    | Sinkhorn_L2
    | Sinkhorn_Mid
    | Sinkhorn_Rnd

    /// The core's method.
    member m.Method : WeightFlow.AlignmentMethod =
        match m with
        | Weight_Matching -> WeightFlow.WeightMatching
        | Sinkhorn_L2 -> WeightFlow.SinkhornL2
        | Sinkhorn_Mid -> WeightFlow.SinkhornMid
        | Sinkhorn_Rnd -> WeightFlow.SinkhornRnd

type AlignArgs =
    | [<Mandatory>] Zoo of string
    | Method of MethodArg
    | [<AltCommandLine("-o")>] Out of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Zoo _ -> "zoo file to align."
            | Method _ -> "the re-basin method (default weight-matching)."
            | Out _ -> "output zoo file (default: beside --zoo, its name with -aligned)."
            | Json -> "print one JSON object on stdout."

type BarrierArgs =
    | [<Mandatory>] Zoo of string
    | Pairs of int
    | Points of int
    | Seed of int
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Zoo _ -> "zoo file."
            | Pairs _ -> "number of random checkpoint pairs (default 250)."
            | Points _ -> "points along each linear path (default 3: endpoints and midpoint)."
            | Seed _ -> "random seed (default 0)."
            | Json -> "print one JSON object on stdout."

type BenchTargetArgs =
    | Json
    | Quick
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Json -> "print one JSON object on stdout."
            | Quick -> "fewer repetitions (smoke test)."

type BenchArgs =
    | [<CliPrefix(CliPrefix.None)>] Zoo of ParseResults<BenchTargetArgs>
    | [<CliPrefix(CliPrefix.None)>] Align of ParseResults<BenchTargetArgs>
    | [<CliPrefix(CliPrefix.None)>] Model of ParseResults<BenchTargetArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Zoo _ -> "batched zoo training vs one network at a time."
            | Align _ -> "alignment of the UCI and MNIST zoos."
            | Model _ -> "velocity model iteration time and memory, sparse vs dense."

type EvalArgs =
    | [<Mandatory>] Weights of string
    | [<Mandatory>] Task of string
    | Zoo of string
    | Space of string
    | Count of int
    | Bma of int
    | Holdout of float
    | Baselines
    | Seed of int
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Weights _ -> "networks to evaluate: a zoo or a samples file (a seeded random --count of its networks)."
            | Task _ -> "uci | mnist | fashion-mnist | csv:PATH: the data the networks classify (split with the zoo's seed, else --seed)."
            | Zoo _ -> "the aligned zoo the generator was trained on: adds novelty and fidelity against its held-out runs."
            | Space _ -> "raw | canonical: the space of the weights (default: what a samples file records, else raw); with canonical the zoo is canonicalized for novelty and fidelity."
            | Count _ -> "networks to evaluate when the file has more (default 64)."
            | Bma _ -> "k of the BMA column (default 16, fewer when fewer networks)."
            | Holdout _ -> "fraction of the zoo's runs held out, the last run ids (default: the runs a samples file records, else 0.1)."
            | Baselines -> "also evaluate the three baselines of --zoo: its mean, a fitted diagonal Gaussian, held-out checkpoints."
            | Seed _ -> "seed of the subsets and of the data split when no zoo gives one (default 0)."
            | Json -> "print one JSON object on stdout."

type RunArgs =
    | Task of string
    | Preset of string
    | Iterations of int
    | Samples of int
    | Temperature of float
    | Fidelity of string
    | Flow_Threads of int
    | Parallel_Flows of int
    | Seed of int
    | Out of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Iterations _ -> "train every flow for N iterations instead of the preset's (a smaller budget; the report records it)."
            | Flow_Threads _ -> "intra-op threads of each flow's training and sampling (default 1: the same flows on every machine; small flows waste CPU on more)."
            | Parallel_Flows _ -> "flows trained at once, each on its own thread (default: the machine's cores, at most 4; the flows do not depend on it)."
            | Samples _ -> "networks sampled from each flow, and drawn for the Gaussian and held-out baselines (default: the job's)."
            | Fidelity _ -> "the fidelity column's metric: predictive (default: MMD² of the predictive distributions on 256 validation inputs) | rbf (MMD² of the re-aligned weights, the metric before docs/fidelity-metric.md) | rbf-multiscale | rbf-standardized | rbf-per-layer | sliced-wasserstein | energy."
            | Temperature _ -> "sampling temperature tau >= 0 of every flow's prior draw (default: each flow's own, on UCI Euclidean RT 0.8, MLP 0.8, Normalized RT 0.9, Geometric RT 1.2 (rule R-tau, docs/uci/tau-selection.md); on a CSV Euclidean RT 0.8, others 1; other tasks 1; see `sample --temperature`); the report adds the fitted Gaussian at each tau <> 1."
            | Task _ -> "uci (default) | mnist | fashion-mnist | csv:PATH (features + integer label in the last column; layout and zoo settings derived from the data)."
            | Preset _ -> "quick (default: the CPU preset, ≤ 15 min on 2 cores for UCI) | full (5x the flow training iterations)."
            | Seed _ -> "random seed (default 0)."
            | Out _ -> "results folder (default results/run)."
            | Json -> "print one JSON object on stdout."

type FlowArg =
    | Euclidean
    | Normalized
    | Geometric

type CouplingArg =
    | Independent
    | Ot
    | Symmetry
    | [<CustomCommandLine("symmetry+ot")>] Symmetry_Ot

type ModelArg =
    | Rt
    | Pna
    | Mlp

type PresetArg =
    | Cpu
    | Thesis

type PredictionArg =
    | Endpoint
    | Velocity
    | Endpoint_Via_Velocity

[<RequireQualifiedAccess>]
type PriorArg =
    | Origin
    | Fitted
    | Standardized
    | Full
    | Standardized_Full

type TrainArgs =
    | [<Mandatory>] Zoo of string
    | Flow of FlowArg
    | Coupling of CouplingArg
    | Model of ModelArg
    | [<AltCommandLine("-o")>] Out of string
    | Preset of PresetArg
    | Iterations of int
    | Batch of int
    | Width of int
    | Layers of int
    | [<AltCommandLine("--lr")>] Learning_Rate of float
    | Prediction of PredictionArg
    | Preconditioning of string
    | Prior_Std of float
    | Time of string
    | Sigma of float
    | Ema of float
    | Prior of PriorArg
    | Hold_Out of int
    | Seed of int
    | Device of string
    | Resume
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Zoo _ -> "an (aligned) zoo file, e.g. results/run/zoo-uci-aligned.safetensors."
            | Flow _ -> "which flow (default geometric)."
            | Coupling _ -> "how prior samples and targets are paired (default: the preset's; cpu: symmetry for the Geometric flow with rt/pna, else independent)."
            | Model _ -> "velocity model (default rt)."
            | Out _ -> "output flow file (default flow-<flow>-<model>.safetensors); the training checkpoint sits beside it (.checkpoint)."
            | Preset _ -> "cpu (default: sized for 2 cores) or thesis (appendix A sizes, for a GPU)."
            | Iterations _ -> "training steps (default: the preset's)."
            | Batch _ -> "minibatch size (default: the preset's)."
            | Width _ -> "model width (default: the preset's)."
            | Layers _ -> "model layers / MLP blocks (default: the preset's)."
            | Learning_Rate _ -> "learning rate (default: the preset's; --lr for short)."
            | Prediction _ -> "what the model predicts: endpoint (x1, the thesis'), velocity, or endpoint-via-velocity (x1 = x_t + (1 - t) v, trained on the x1 loss; default: the preset's)."
            | Preconditioning _ -> "how the model's input and output are scaled along the Gaussian path (Euclidean, Normalized): plain, input (x_t / its RMS per layer), edm (input scaling and x1 = c_skip x_t + c_out F) or edm-weighted (edm with the loss weighted by 1/c_out²); default: the preset's."
            | Prior_Std _ -> "standard deviation s of the prior N(0, s² I) (default: the preset's, 0.1)."
            | Time _ -> "training-time distribution: beta(a,b) with a or b = 1, or uniform (default: the preset's)."
            | Sigma _ -> "σ of the Gaussian path (Euclidean, Normalized; default: the preset's)."
            | Ema _ -> "EMA decay of the sampled model's weights (default: the preset's)."
            | Prior _ -> "the prior: origin (N(0, 0.1² I), the thesis'; default), fitted (the Gaussian fitted to the training targets), standardized (fitted, with the model in standardized coordinates; Euclidean flow only; README \"MNIST flows\"), full or standardized-full (the Gaussian with the targets' full covariance, its top 512 principal directions plus the residual diagonal; README \"MNIST flows\")."
            | Hold_Out _ -> "train without the last K runs of the zoo (held out for evaluation; default 10)."
            | Seed _ -> "random seed (default 0)."
            | Device _ -> "cpu (default) or cuda[:N]."
            | Resume -> "continue from the checkpoint beside --out."
            | Json -> "print one JSON object on stdout."

type SolverArg =
    | Euler
    | Heun
    | Rk4

type RuleArg =
    | Conditional
    | Anchor
    | Prior_Only

/// How --noise scales with the step (see Transform.Noise and Transform.perGridPoint).
type NoiseScaleArg =
    | Time
    | Step

type GuideAtArg =
    | State
    | Prediction

type SampleArgs =
    | [<Mandatory>] Flow of string
    | Count of int
    | Steps of int
    | Solver of SolverArg
    | Noise of float
    | Window of string
    | Noise_Scale of NoiseScaleArg
    | Guidance of float
    | Task of string
    | Guide_At of GuideAtArg
    | Guide_Batch of int
    | Split_Seed of int
    | Layout of string
    | Rule of RuleArg
    | Batch of int
    | Temperature of float
    | Seed of int
    | Device of string
    | [<Mandatory; AltCommandLine("-o")>] Out of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Flow _ -> "a trained flow file (weightflow train)."
            | Count _ -> "networks to sample (default 100)."
            | Steps _ -> "solver steps K on [0, 1] (K + 1 grid points; default 100)."
            | Solver _ -> "euler (default), heun or rk4; on the Geometric flow their manifold versions."
            | Noise _ -> "stochastic sampling: noise scale eps (std eps*sqrt(dt) per step, thesis 6.5); needs --window."
            | Window _ -> "A,B: the noise window [A, B) on each step's start time, e.g. 0.8,1."
            | Noise_Scale _ -> "time (default): std eps*sqrt(dt), variance eps^2 per unit time whatever --steps; step: the anchor code's eps unscaled at every grid time t > A (the thesis' setting; variance grows with --steps; needs B = 1)."
            | Guidance _ -> "guidance strength lambda >= 0 (v - lambda grad L, thesis eq. 6.1); needs --task."
            | Task _ -> "uci | mnist | fashion-mnist | csv:PATH: the task whose training loss guides sampling."
            | Guide_At _ -> "where the loss gradient is taken: state (x_t, default) or prediction (the predicted endpoint)."
            | Guide_Batch _ -> "training rows per guidance evaluation, drawn afresh each time (default 64)."
            | Split_Seed _ -> "seed of the task's data split (default 0, the zoo's default)."
            | Layout _ -> "layout of the sampled networks, e.g. 30-32-2 (default: the flow's; same depth, thesis 7.3.4)."
            | Rule _ -> "velocity from the x1-prediction: conditional (default, (x1 - x_t)/(1 - t) or its log-map) or anchor (x1 - x0); prior-only: velocity 0, the prior draw moved by guidance alone (the guidance-only control)."
            | Batch _ -> "networks integrated together (default 64)."
            | Temperature _ -> "tau >= 0: the prior draw contracted towards its centre, x0 = c + tau (x0 - c) (default 1 = as trained; 0 = one network). Normalized/Geometric flows with the isotropic prior: the biases only (directions have no centre)."
            | Seed _ -> "random seed of the prior, the noise and the guidance minibatches (default 0)."
            | Device _ -> "cpu (default) or cuda[:N]."
            | Out _ -> "output samples file (safetensors: theta [N, P], layout and settings in the header)."
            | Json -> "print one JSON object on stdout."

type LoglikArgs =
    | [<Mandatory>] Flow of string
    | [<Mandatory>] Weights of string
    | Probes of int
    | Steps of int
    | Count of int
    | Batch of int
    | Seed of int
    | Device of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Flow _ -> "a trained Euclidean flow file."
            | Weights _ -> "networks: a samples file (weightflow sample) or a zoo file, of a layout the flow runs on."
            | Probes _ -> "Hutchinson probes (Rademacher) per trajectory; 0 = exact divergence (default: exact up to 64 parameters, else 8)."
            | Steps _ -> "RK4 steps from t = 1 back to 0 (default 16)."
            | Count _ -> "evaluate the first N networks of the file only."
            | Batch _ -> "networks integrated together (default 16)."
            | Seed _ -> "seed of the Hutchinson probes (default 0)."
            | Device _ -> "cpu (default) or cuda[:N]."
            | Json -> "print one JSON object on stdout."

type ReproduceArgs =
    | [<MainCommand; ExactlyOnce; First>] Name of string
    | Preset of string
    | Seed of int
    | Out of string
    | Time of string
    | Rows of string
    | Parallel_Flows of int
    | Temperature of float
    | Euclidean_Prior of string
    | Euclidean_Lr of float
    | Euclidean_Iterations of int
    | Flow of string
    | Prior of string
    | Lr_Scaling of string
    | Euclidean_Steps of int
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Flow _ -> "scaling only: the flow trained at each RT width, geometric (default: the Geometric RT from the full-covariance prior, canonical space) or euclidean (the Euclidean RT from the standardized full-covariance prior, reproduce mnist's first flow N at each width; docs/mnist/width.md)."
            | Prior _ -> "scaling only, with --flow euclidean: the widths' prior, full (default: N's standardized full-covariance Gaussian, 800 iterations; docs/mnist/width.md) or standardized (the standardized diagonal Gaussian, Table 7.2's second RT row, 1,000 iterations; docs/mnist/wides.md)."
            | Lr_Scaling _ -> "scaling only, with --flow euclidean: the widths' Adam learning rate, none (default: the recipe's 3e-3 at every width) or inverse-width (lr × 8/d: d 8 keeps 3e-3, d 16 1.5e-3, d 32 7.5e-4; the changed widths get their own flow files; docs/mnist/scale8.md)."
            | Euclidean_Lr _ -> "uci only, isotropic prior: learning rate of the Euclidean, Euclidean (aligned) and Euclidean (aligned + OT) RT rows (default 1e-3; docs/uci/euclid3.md). A recipe other than the default needs its tau chosen by R-tau (Reproduce.euclideanRecipeTemperature)."
            | Euclidean_Iterations _ -> "uci only, isotropic prior: training iterations of the same three rows (default 3,000 in full, the unaligned Euclidean row 9,000: docs/uci/euclid3.md, docs/uci/long1.md; a recipe other than the default applies to all three)."
            | Euclidean_Steps _ -> "uci only, isotropic prior: Euler steps of the same three rows' samples (default 512 in full, every other row 100; 100 gives the table before docs/uci/guided.md)."
            | Euclidean_Prior _ -> "uci only: the Euclidean RT rows' prior, isotropic (N(0, 0.1^2 I), 3,000 iterations in full) or fitted (the Gaussian fitted to each row's targets, 1,000 iterations, as the canonical rows); default as docs/uci/euclid-rows.md decided (Reproduce.uciEuclideanPrior)."
            | Temperature _ -> "uci only: sampling temperature tau >= 0 of every row (default: each row's own, chosen by the pre-stated rule R-tau, docs/uci/tau-selection.md); the bars stay against the tau = 1 fitted Gaussian."
            | Parallel_Flows _ -> "uci only: flows trained at once, each on one thread (default: the machine's cores, at most 4; the flows do not depend on it). 1 makes each row's recorded training CPU seconds its own."
            | Rows _ -> "uci only: the rows to train and report, comma-separated ids (euclidean, euclidean-aligned, euclidean-aligned-ot, ..., euclidean-mlp-aligned; default all): evaluates the rows a stopped run finished."
            | Name _ -> "gaussians (thesis §7.1, Fig. 7.1) | uci (Table 7.1, Figs. 7.2-7.3) | mnist (Table 7.2, Figs. 7.4-7.5) | fashion-transfer (Table 7.3, Fig. 7.6) | wider (Table 7.4) | scaling (Fig. 7.7: flow widths); fashion-transfer and wider use the MNIST flows in --out (default results/reproduce-mnist), training them if absent."
            | Time _ -> "gaussians only: the training time distribution, uniform (default) or beta(1,2) (the thesis'; it rarely trains t near 1, where the sampler's last step reads the model, README \"reproduce gaussians\")."
            | Preset _ -> "quick (default: a CI-sized smoke run) | full (this machine's sizes; the report says where they differ from the thesis')."
            | Seed _ -> "random seed (default 0)."
            | Out _ -> "results folder (default results/reproduce-NAME)."
            | Json -> "print one JSON object on stdout."

type ExportFormatArg =
    | Onnx
    | Safetensors

type ExportArgs =
    | [<Mandatory>] Weights of string
    | Format of ExportFormatArg
    | [<Mandatory; AltCommandLine("-o")>] Out of string
    | Json
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Weights _ -> "a samples file (weightflow sample) or a zoo file (weightflow zoo / align)."
            | Format _ -> "onnx (default: one ONNX model per network, input 'input' [batch, in] -> 'logits') or safetensors (torch.nn.Sequential names)."
            | Out _ -> "output folder (created if absent; not a file); files are named after the input, -0000, -0001, ..."
            | Json -> "print one JSON object on stdout."

type Command =
    | [<CliPrefix(CliPrefix.None)>] Run of ParseResults<RunArgs>
    | [<CliPrefix(CliPrefix.None)>] Reproduce of ParseResults<ReproduceArgs>
    | [<CliPrefix(CliPrefix.None)>] Zoo of ParseResults<ZooArgs>
    | [<CliPrefix(CliPrefix.None)>] Info of ParseResults<InfoArgs>
    | [<CliPrefix(CliPrefix.None)>] Data of ParseResults<DataArgs>
    | [<CliPrefix(CliPrefix.None)>] Align of ParseResults<AlignArgs>
    | [<CliPrefix(CliPrefix.None)>] Barrier of ParseResults<BarrierArgs>
    | [<CliPrefix(CliPrefix.None)>] Eval of ParseResults<EvalArgs>
    | [<CliPrefix(CliPrefix.None)>] Bench of ParseResults<BenchArgs>
    | [<CliPrefix(CliPrefix.None)>] Train of ParseResults<TrainArgs>
    | [<CliPrefix(CliPrefix.None)>] Sample of ParseResults<SampleArgs>
    | [<CliPrefix(CliPrefix.None)>] Loglik of ParseResults<LoglikArgs>
    | [<CliPrefix(CliPrefix.None)>] Export of ParseResults<ExportArgs>
    interface IArgParserTemplate with
        member a.Usage =
            match a with
            | Run _ -> "the main job: zoo, alignment, barriers, the three flows and the MLP baseline, samples, evaluation beside baselines, report.md."
            | Reproduce _ -> "reproduce a thesis experiment (gaussians, uci, mnist, fashion-transfer, wider, scaling): a table with the thesis' numbers beside ours, a CSV and PNG figures."
            | Zoo _ -> "train a zoo of base MLPs as one batch and save it."
            | Info _ -> "describe a zoo file."
            | Data _ -> "prepare data sets."
            | Align _ -> "re-basin a zoo to one reference network."
            | Barrier _ -> "loss barriers between random pairs of a zoo's checkpoints."
            | Eval _ -> "evaluate networks: accuracy, raw and calibrated CE, BMA, diversity, novelty, fidelity (and baselines)."
            | Bench _ -> "benchmarks."
            | Train _ -> "train a flow on a zoo."
            | Sample _ -> "sample networks from a trained flow (solver, noise window, guidance, wider layouts)."
            | Export _ -> "write each network of a samples or zoo file as a standalone ONNX model (or safetensors file)."
            | Loglik _ -> "log-likelihood of networks under a trained Euclidean flow (exact divergence or Hutchinson)."

/// Reads an option's value with a core parser that also reads file headers, where a bad value is a corrupt file
/// (exit 3): on the command line the same text is a bad option (exit 2), and the message names the option. A value
/// the parser cannot convert at all (`beta(x,2)`) gets the same one line instead of a FormatException.
let parseOption (flag: string) (expected: string) (parse: string -> 'a) (text: string) : 'a =
    try parse text
    with
    | WeightFlow.Check.WeightFlowError(_, msg) -> WeightFlow.Check.fail WeightFlow.Check.ErrorKind.InvalidOption $"--{flag}: {msg}"
    | :? System.FormatException | :? System.OverflowException ->
        WeightFlow.Check.fail WeightFlow.Check.ErrorKind.InvalidOption $"--{flag}: cannot read '{text}'; expected {expected}."
