/// Zoos: R independent training runs of one MLP layout trained at once as a single batched model (thesis §7.2-7.3,
/// appendix A), with checkpoints recorded along each trajectory. The target samples of every flow.
namespace WeightFlow

open System
open System.Globalization
open System.Threading
open TorchSharp

/// How a zoo is trained and sampled.
type ZooConfig =
    { Layout: Layout
      /// Independent runs R, each with its own initialisation and minibatch order.
      Runs: int
      Epochs: int
      BatchSize: int
      /// Weights ~ N(0, InitStd²), biases 0 (the thesis' p0 is N(0, 0.1²)).
      InitStd: float
      Optimizer: Optimizer
      /// Checkpoints of the first DropEpochs epochs are discarded.
      DropEpochs: int
      /// A checkpoint every `Every` iterations (global iteration count, 1-based).
      Every: int
      Seed: int64 }

/// Where and how often zoo training saves its resumable state: after an epoch, when at least MinInterval has passed
/// since the last save (the state holds every checkpoint so far, so saving after every epoch would rewrite O(E²) bytes).
type TrainingState = { Path: string; MinInterval: TimeSpan }

/// Progress of zoo training, reported once per iteration.
type ZooProgress = { Iteration: int; Total: int; Epoch: int; Loss: float }

/// A zoo: N checkpoints of one layout, as flat weights [N, P], with where each came from.
[<NoEquality; NoComparison>]
type Zoo =
    { Layout: Layout
      /// The task the zoo was trained on (recorded in the file by `Task.name`).
      Task: Task
      Config: ZooConfig
      /// [N, P] float32 flat weights (Layout.fs order).
      Theta: Tensor
      /// Run id of each checkpoint.
      Run: int[]
      /// Global iteration (1-based) of each checkpoint.
      Step: int[]
      /// Epoch (0-based) of each checkpoint.
      Epoch: int[]
      /// Test accuracy of each checkpoint when it was recorded.
      TestAccuracy: float32[]
      /// Test cross-entropy of each checkpoint when it was recorded.
      TestLoss: float32[] }

[<RequireQualifiedAccess>]
module ZooConfig =
    /// Thesis appendix A, UCI breast cancer: 100 runs, N(0, 0.1²), Adam 1e-3, 50 epochs, drop 10, every 4 iterations;
    /// batch 64 as in the anchors' loaders (8 iterations per epoch on 455 training rows, ~80 checkpoints per run).
    let uci =
        { Layout = Layout.parse "30-16-16-2"; Runs = 100; Epochs = 50; BatchSize = 64; InitStd = 0.1
          Optimizer = Adam { LearningRate = 1e-3; Beta1 = 0.9; Beta2 = 0.999; Eps = 1e-8; WeightDecay = 0.0 }
          DropEpochs = 10; Every = 4; Seed = 0L }

    /// Thesis appendix A, MNIST: 50 runs, SGD lr 0.1, momentum 0.9, wd 1e-5, 25 epochs, drop 5, every 10 iterations.
    /// The batch size is not stated. On the 10k-digit subset, batch 64 (the anchors' loader) lets lr 0.1 with
    /// momentum 0.9 kill hidden ReLUs of the 10-unit layer in some runs: 0.849 +- 0.052 test accuracy after 10 epochs
    /// over 10 runs, against 0.890 +- 0.010 with batch 128 (measured, `weightflow zoo --task mnist --runs 10
    /// --epochs 10 --batch-size N`). We take 128.
    let mnist =
        { Layout = Layout.parse "784-10-10"; Runs = 50; Epochs = 25; BatchSize = 128; InitStd = 0.1
          Optimizer = Sgd { LearningRate = 0.1; Momentum = 0.9; WeightDecay = 1e-5 }
          DropEpochs = 5; Every = 10; Seed = 0L }

    /// The thesis preset for a task: UCI's for UCI and for a user's data (with a 16-16 hidden layout fitted to the
    /// data's width and classes), MNIST's for MNIST and Fashion-MNIST.
    let forTask (task: Task) (data: Dataset) : ZooConfig =
        match task with
        | Task.Uci -> uci
        | Task.Mnist | Task.FashionMnist -> mnist
        | Task.Csv _ | Task.Custom _ -> { uci with Layout = Layout.create [ data.Features; 16; 16; data.Classes ] }

    /// Checks every field; errors name the field and the allowed range.
    let validate (c: ZooConfig) =
        Check.arg "Runs" (c.Runs >= 1) $"Runs must be >= 1; got {c.Runs}."
        Check.arg "Epochs" (c.Epochs >= 1) $"Epochs must be >= 1; got {c.Epochs}."
        Check.arg "BatchSize" (c.BatchSize >= 1) $"BatchSize must be >= 1; got {c.BatchSize}."
        Check.arg "InitStd" (c.InitStd > 0.0) $"InitStd must be > 0; got {c.InitStd}."
        Check.arg "DropEpochs" (c.DropEpochs >= 0 && c.DropEpochs < c.Epochs) $"DropEpochs must lie in [0, Epochs); got {c.DropEpochs} with {c.Epochs} epochs, which would record nothing."
        Check.arg "Every" (c.Every >= 1) $"Every must be >= 1; got {c.Every}."
        match c.Optimizer with
        | Sgd s -> Check.arg "LearningRate" (s.LearningRate > 0.0) $"The learning rate must be > 0; got {s.LearningRate}."
        | Adam a -> Check.arg "LearningRate" (a.LearningRate > 0.0) $"The learning rate must be > 0; got {a.LearningRate}."

    let private f (x: float) = x.ToString("R", CultureInfo.InvariantCulture)

    /// The config as flat string metadata (readable from Python's safetensors). The learning rate is recorded under
    /// "lr", the key files have always used.
    let toMetadata (c: ZooConfig) : (string * string) list =
        [ "layout", string c.Layout; "runs", string c.Runs; "epochs", string c.Epochs
          "batch_size", string c.BatchSize; "init_std", f c.InitStd; "drop_epochs", string c.DropEpochs
          "every", string c.Every; "seed", string c.Seed ]
        @ (match c.Optimizer with
           | Sgd s -> [ "optimizer", "sgd"; "lr", f s.LearningRate; "momentum", f s.Momentum; "weight_decay", f s.WeightDecay ]
           | Adam a ->
               [ "optimizer", "adam"; "lr", f a.LearningRate; "beta1", f a.Beta1; "beta2", f a.Beta2; "eps", f a.Eps
                 "weight_decay", f a.WeightDecay ])

    /// Inverse of toMetadata; `get` raises a DataError for a missing key.
    let ofMetadata (get: string -> string) : ZooConfig =
        let num (k: string) = Double.Parse(get k, CultureInfo.InvariantCulture)
        let int (k: string) = Int32.Parse(get k, CultureInfo.InvariantCulture)
        { Layout = Layout.parse (get "layout"); Runs = int "runs"; Epochs = int "epochs"; BatchSize = int "batch_size"
          InitStd = num "init_std"; DropEpochs = int "drop_epochs"; Every = int "every"
          Seed = Int64.Parse(get "seed", CultureInfo.InvariantCulture)
          Optimizer =
            match get "optimizer" with
            | "sgd" -> Sgd { LearningRate = num "lr"; Momentum = num "momentum"; WeightDecay = num "weight_decay" }
            | "adam" -> Adam { LearningRate = num "lr"; Beta1 = num "beta1"; Beta2 = num "beta2"; Eps = num "eps"; WeightDecay = num "weight_decay" }
            | o -> Check.dataError $"Unknown optimizer '{o}' in the zoo file's metadata." }

[<RequireQualifiedAccess>]
module Zoo =
    [<Literal>]
    let private Kind = "zoo"

    [<Literal>]
    let private StateKind = "zoo-training-state"

    /// What identifies a zoo's training run in its state file (Resumable): kind, task, run ids and the whole config.
    let private stateFile (path: string) (config: ZooConfig) (task: Task) (runIds: int[]) : Resumable.StateFile =
        { Path = path
          Description = "training state (written after an epoch, at most every 30 s)"
          Identity =
            [ "weightflow.kind", StateKind; "task", Task.name task; "run_ids", (runIds |> Array.map string |> String.concat ",") ]
            @ ZooConfig.toMetadata config }

    /// Trains the runs `runIds` as one batch. Run r's initialisation and minibatch order come from its own generator
    /// (seeded from Config.Seed and r), so a run's trajectory does not depend on which other runs share its batch:
    /// training runs one at a time gives the same checkpoints (up to float summation order).
    /// With `state = Some s`, the whole training state (weights, optimizer moments, every run's generator, the
    /// checkpoints so far) is written to s.Path atomically after an epoch (see TrainingState), and a later call with the same
    /// arguments resumes from the last completed epoch with bit-identical results; the file is deleted on success.
    let trainRunsResumable (state: TrainingState option) (config: ZooConfig) (task: Task) (data: Dataset) (runIds: int[])
                           (progress: ZooProgress -> unit) (ct: CancellationToken) : Zoo =
        ZooConfig.validate config
        let layout = config.Layout
        Check.arg "data" (data.Features = layout.Widths[0]) $"The {layout} MLP takes {layout.Widths[0]} inputs but the {data.Name} data has {data.Features} features; use a layout starting with {data.Features}."
        Check.arg "data" (data.Classes = Array.last layout.Widths) $"The {layout} MLP has {Array.last layout.Widths} outputs but the {data.Name} data has {data.Classes} classes; use a layout ending with {data.Classes}."
        let device = data.Train.X.device
        let r = runIds.Length
        let gens = runIds |> Array.map (fun id -> Scope.Rng.create (Scope.Rng.derive config.Seed (int64 id)))
        let theta = torch.cat([| for g in gens -> Mlp.init g device layout 1 config.InitStd |], 0L).requires_grad_(true)
        // one optimizer state over the [R, P] weights is R independent optimizers (the rules are elementwise)
        let opt = Optim.init theta
        let n = Dataset.count data.Train
        let perEpoch = (n + config.BatchSize - 1) / config.BatchSize
        let total = perEpoch * config.Epochs
        let d = int64 data.Features
        // Every checkpoint goes into one buffer allocated up front (the count is known: one per `Every` iterations after
        // DropEpochs, R networks each): hundreds of separate snapshots fragment the heap (README, engineering notes),
        // and the buffer needs no concatenation to be saved or returned.
        let events =
            let first, last = config.DropEpochs * perEpoch + 1, config.Epochs * perEpoch
            if last < first then 0 else last / config.Every - (first - 1) / config.Every
        let p = int64 (Layout.paramCount layout)
        let checkpoints = torch.empty([| int64 (events * r); p |], dtype = torch.float32)
        let mutable filled = 0L
        let runs, steps, epochs, accs, losses = ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray(), ResizeArray<float32>()
        let accs : ResizeArray<float32> = accs
        let mutable iteration = 0
        let mutable firstEpoch = 0
        let file = state |> Option.map (fun s -> stateFile s.Path config task runIds)
        // one run per state file: a second run on it is refused (Busy) instead of interleaving saves
        use _lock = match state with Some s -> Storage.lock (s.Path + ".lock") $"The zoo training state {s.Path}" | None -> null
        let sinceSave = Diagnostics.Stopwatch.StartNew()
        // Resume: restore everything the loop reads, after checking the file belongs to this very training.
        match file |> Option.bind Resumable.tryLoad with
        | Some s ->
            let tensor = Resumable.tensor s
            let get = Resumable.meta s
            (use _ = torch.no_grad ()
             theta.copy_(tensor "theta") |> ignore
             opt.First.copy_(tensor "opt_first") |> ignore
             opt.Second.copy_(tensor "opt_second") |> ignore)
            opt.Step <- int (get "optimizer_step")
            let states = tensor "generators"
            gens |> Array.iteri (fun i g -> (use st = states[int64 i] in Resumable.restoreGenerator g st))
            let k = (tensor "run").shape[0]
            if k > 0 then
                use kept = checkpoints.narrow(0L, 0L, k)
                kept.copy_(tensor "checkpoints") |> ignore
            filled <- k
            runs.AddRange((tensor "run").data<int>().ToArray())
            steps.AddRange((tensor "step").data<int>().ToArray())
            epochs.AddRange((tensor "epoch").data<int>().ToArray())
            accs.AddRange((tensor "test_accuracy").data<float32>().ToArray())
            losses.AddRange((tensor "test_loss").data<float32>().ToArray())
            firstEpoch <- int (get "epochs_done")
            iteration <- int (get "iteration")
            Resumable.dispose s
        | None -> ()
        // torch.tensor refuses empty arrays; before the first recorded checkpoint the lists are empty.
        let ints (a: ResizeArray<int>) = if a.Count = 0 then torch.zeros(0L, dtype = torch.int32) else torch.tensor(a.ToArray())
        let floats (a: ResizeArray<float32>) = if a.Count = 0 then torch.zeros(0L, dtype = torch.float32) else torch.tensor(a.ToArray())
        let saveState (epochsDone: int) =
            match file with
            | None -> ()
            | Some f ->
                Scope.value (fun () ->
                    Resumable.save f [ "epochs_done", string epochsDone; "iteration", string iteration; "optimizer_step", string opt.Step ]
                        [ "theta", theta.detach().cpu(); "opt_first", opt.First.cpu(); "opt_second", opt.Second.cpu()
                          "generators", torch.stack([| for g in gens -> Resumable.generatorState g |])
                          "checkpoints", checkpoints.narrow(0L, 0L, filled); "run", ints runs; "step", ints steps; "epoch", ints epochs
                          "test_accuracy", floats accs; "test_loss", floats losses ])
        for epoch in firstEpoch .. config.Epochs - 1 do
            // One permutation per run per epoch: [R, n].
            use perms = torch.stack([| for g in gens -> torch.randperm(int64 n, generator = g).``to``(device) |])
            for k in 0 .. perEpoch - 1 do
                ct.ThrowIfCancellationRequested()
                use _scope = Scope.enter ()
                iteration <- iteration + 1
                let start = k * config.BatchSize
                let size = min config.BatchSize (n - start)
                let idx = perms.narrow(1L, int64 start, int64 size)
                let xb = data.Train.X.index_select(0L, idx.flatten()).view(int64 r, int64 size, d)
                let yb = data.Train.Y.index_select(0L, idx.flatten()).view(int64 r, int64 size)
                // Sum over runs of each run's mean loss: each run's gradient is its own.
                let perRun = Mlp.crossEntropyOfLogits (Mlp.forward layout theta xb) yb
                let loss = perRun.sum()
                let grad = torch.autograd.grad([| loss |], [| theta |])[0]
                Optim.apply config.Optimizer opt theta grad
                if epoch >= config.DropEpochs && iteration % config.Every = 0 then
                    use _ = torch.no_grad ()
                    let snapshot = theta.detach()
                    let logits = Mlp.forward layout snapshot data.Test.X
                    accs.AddRange(T.toArray (Mlp.accuracyOfLogits logits data.Test.Y))
                    losses.AddRange(T.toArray (Mlp.crossEntropyOfLogits logits data.Test.Y))
                    checkpoints.narrow(0L, filled, int64 r).copy_(snapshot) |> ignore
                    filled <- filled + int64 r
                    runs.AddRange runIds
                    steps.AddRange(Array.create r iteration)
                    epochs.AddRange(Array.create r epoch)
                progress { Iteration = iteration; Total = total; Epoch = epoch; Loss = loss.ToDouble() / float r }
            use ok = torch.isfinite(theta).all()
            if not (ok.ToBoolean()) then
                invalidOp $"Zoo training diverged: non-finite weights after epoch {epoch + 1}. Lower the learning rate or the initialisation scale (InitStd)."
            match state with
            | Some st when epoch < config.Epochs - 1 && sinceSave.Elapsed >= st.MinInterval ->
                saveState (epoch + 1)
                sinceSave.Restart()
            | _ -> ()
        if filled <> checkpoints.shape[0] then
            invalidOp $"Zoo training stored {filled} checkpoint rows but expected {checkpoints.shape[0]} (an internal error; please report it)."
        for t in [ theta; opt.First; opt.Second ] do t.Dispose()
        for g in gens do g.Dispose()
        file |> Option.iter Resumable.delete
        { Layout = layout; Task = task; Config = config; Theta = checkpoints; Run = runs.ToArray(); Step = steps.ToArray()
          Epoch = epochs.ToArray(); TestAccuracy = accs.ToArray(); TestLoss = losses.ToArray() }

    /// Trains the runs `runIds` as one batch (see `trainRunsResumable`), without a state file.
    let trainRuns (config: ZooConfig) (task: Task) (data: Dataset) (runIds: int[]) (progress: ZooProgress -> unit)
                  (ct: CancellationToken) : Zoo =
        trainRunsResumable None config task data runIds progress ct

    /// Trains all Config.Runs runs as one batched model.
    let train (config: ZooConfig) (task: Task) (data: Dataset) (progress: ZooProgress -> unit) (ct: CancellationToken) : Zoo =
        trainRuns config task data [| 0 .. config.Runs - 1 |] progress ct

    /// Trains all runs as one batched model, saving the training state (see TrainingState) and resuming from it if it
    /// exists (e.g. after the process was killed).
    let trainResumable (state: TrainingState) (config: ZooConfig) (task: Task) (data: Dataset) (progress: ZooProgress -> unit)
                       (ct: CancellationToken) : Zoo =
        trainRunsResumable (Some state) config task data [| 0 .. config.Runs - 1 |] progress ct

    /// Concatenates zoos of one layout and task (e.g. runs trained separately).
    let concat (zoos: Zoo list) : Zoo =
        match zoos with
        | [] -> invalidArg "zoos" "Nothing to concatenate."
        | z :: _ ->
            for o in zoos do
                if o.Layout <> z.Layout then invalidArg "zoos" $"Cannot join zoos of layouts {z.Layout} and {o.Layout}."
            { z with
                Theta = torch.cat([| for o in zoos -> o.Theta |], 0L)
                Run = zoos |> Array.ofList |> Array.collect (fun o -> o.Run)
                Step = zoos |> Array.ofList |> Array.collect (fun o -> o.Step)
                Epoch = zoos |> Array.ofList |> Array.collect (fun o -> o.Epoch)
                TestAccuracy = zoos |> Array.ofList |> Array.collect (fun o -> o.TestAccuracy)
                TestLoss = zoos |> Array.ofList |> Array.collect (fun o -> o.TestLoss) }

    /// The same zoo with other weights of the same shape (e.g. aligned or canonicalized).
    let withTheta (zoo: Zoo) (theta: Tensor) : Zoo =
        Check.shape "theta" (T.shape zoo.Theta |> List.ofArray) theta
        { zoo with Theta = theta }

    /// Number of checkpoints N.
    let count (zoo: Zoo) = zoo.Run.Length

    /// Index of the last checkpoint of every run, in run order.
    let finalIndices (zoo: Zoo) : int[] =
        zoo.Run |> Array.indexed |> Array.groupBy snd |> Array.sortBy fst
        |> Array.map (fun (_, xs) -> xs |> Array.maxBy (fun (i, _) -> zoo.Step[i]) |> fst)

    /// Writes the zoo as a safetensors file (atomically): tensors theta, run, step, epoch, test_accuracy, test_loss;
    /// metadata: kind, task, layout and the whole training config.
    let save (path: string) (zoo: Zoo) =
        let i32 (a: int[]) = torch.tensor(a)
        let f32 (a: float32[]) = torch.tensor(a)
        Storage.write path
            (Map.ofList ([ "weightflow.kind", Kind; "task", Task.name zoo.Task; "count", string (count zoo) ] @ ZooConfig.toMetadata zoo.Config))
            [ "theta", zoo.Theta; "run", i32 zoo.Run; "step", i32 zoo.Step; "epoch", i32 zoo.Epoch
              "test_accuracy", f32 zoo.TestAccuracy; "test_loss", f32 zoo.TestLoss ]

    /// Loads and validates a zoo file: its kind, the layout against theta's width, and every per-checkpoint array's
    /// length. Errors (`Check.DataError`) name the file and what is wrong.
    let load (path: string) : Zoo =
        let s = Storage.readKind [ Kind ] "a zoo file" "Train a zoo with `weightflow zoo --task T --out FILE`." path
        let get = Storage.meta path s
        let config = Storage.interpret path "a zoo" (fun () -> ZooConfig.ofMetadata get)
        (try ZooConfig.validate config
         with :? ArgumentException as e -> Check.dataError $"{path}: its recorded training settings are impossible ({e.Message}); the file was edited or damaged.")
        let theta = Storage.tensor path s "theta"
        let p = Layout.paramCount config.Layout
        if theta.dim() <> 2L || int theta.shape[1] <> p || theta.dtype <> torch.float32 then
            Check.dataError $"{path}: theta has shape %A{theta.shape} ({theta.dtype}) but a {config.Layout} MLP has {p} float32 parameters; the file is corrupt or was edited."
        use finite = torch.isfinite(theta).all()
        if not (finite.ToBoolean()) then
            Check.fail Check.ErrorKind.NonFinite $"{path}: the weights contain NaN or infinite values; the zoo's training diverged or the file was damaged. Retrain it (weightflow zoo ...), with a lower learning rate if it diverged."
        let n = int theta.shape[0]
        let ints name =
            let t = Storage.tensor path s name
            if t.dtype <> torch.int32 || t.shape <> [| int64 n |] then Check.dataError $"{path}: '{name}' must be int32 [{n}] but is {t.dtype} %A{t.shape}."
            t.data<int>().ToArray()
        let floats name =
            let t = Storage.tensor path s name
            if t.dtype <> torch.float32 || t.shape <> [| int64 n |] then Check.dataError $"{path}: '{name}' must be float32 [{n}] but is {t.dtype} %A{t.shape}."
            t.data<float32>().ToArray()
        if n = 0 then Check.dataError $"{path}: the zoo holds no checkpoints; retrain it with at least one recorded epoch (Epochs > DropEpochs)."
        let accuracy = floats "test_accuracy"
        if accuracy |> Array.exists (fun a -> not (a >= 0.0f && a <= 1.0f)) then
            Check.dataError $"{path}: 'test_accuracy' holds values outside [0, 1] (or NaN); the file was edited or damaged."
        let recorded = get "task"
        let task =
            try Task.parse recorded
            with :? ArgumentException -> Check.dataError $"{path}: the recorded task '{recorded}' is not one WeightFlow knows (uci, mnist, fashion-mnist, csv:PATH, custom:NAME); the file was edited or written by a newer version."
        { Layout = config.Layout; Task = task; Config = config; Theta = theta; Run = ints "run"; Step = ints "step"
          Epoch = ints "epoch"; TestAccuracy = accuracy; TestLoss = floats "test_loss" }

/// Summary statistics of a zoo (over the final checkpoint of each run, and over all checkpoints).
type ZooSummary =
    { Runs: int
      Checkpoints: int
      FinalAccuracyMean: float
      FinalAccuracyStd: float
      FinalLossMean: float
      FinalLossStd: float
      AllAccuracyMean: float
      AllAccuracyStd: float }

/// Test accuracy along a zoo's training, over its runs.
type ZooTrajectory =
    { /// Global iterations (1-based) at which checkpoints were recorded.
      Steps: int[]
      AccuracyMean: float[]
      AccuracyStd: float[] }

[<RequireQualifiedAccess>]
module ZooSummary =
    let private meanStd (xs: float[]) = Stats.meanStd xs

    /// Summarises a zoo.
    let ofZoo (zoo: Zoo) : ZooSummary =
        let finals = Zoo.finalIndices zoo
        let fa, fs = finals |> Array.map (fun i -> float zoo.TestAccuracy[i]) |> meanStd
        let la, ls = finals |> Array.map (fun i -> float zoo.TestLoss[i]) |> meanStd
        let aa, asd = zoo.TestAccuracy |> Array.map float |> meanStd
        { Runs = finals.Length; Checkpoints = Zoo.count zoo; FinalAccuracyMean = fa; FinalAccuracyStd = fs
          FinalLossMean = la; FinalLossStd = ls; AllAccuracyMean = aa; AllAccuracyStd = asd }

    /// The test accuracy along training: for each recorded global iteration, the mean and the (sample, `Stats`)
    /// standard deviation over the runs' checkpoints at that iteration.
    let trajectory (zoo: Zoo) : ZooTrajectory =
        let points =
            zoo.Step |> Array.indexed |> Array.groupBy snd |> Array.sortBy fst
            |> Array.map (fun (step, xs) ->
                let m, s = xs |> Array.map (fun (i, _) -> float zoo.TestAccuracy[i]) |> meanStd
                step, m, s)
        { Steps = points |> Array.map (fun (s, _, _) -> s)
          AccuracyMean = points |> Array.map (fun (_, m, _) -> m)
          AccuracyStd = points |> Array.map (fun (_, _, s) -> s) }
