module WeightFlow.Tests.TestData

open System
open System.IO
open System.IO.Compression
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests
open WeightFlow.Tests.Generators

/// A fresh folder under the system temp folder, deleted afterwards.
let withTemp (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"wf-test-data-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally Directory.Delete(dir, true)

let gzip (bytes: byte[]) =
    use m = new MemoryStream()
    do
        use gz = new GZipStream(m, CompressionLevel.Fastest, true)
        gz.Write(bytes, 0, bytes.Length)
    m.ToArray()

/// Seeded bytes.
let randomBytes (seed: int) (n: int) = let r = Random seed in Array.init n (fun _ -> byte (r.Next 256))

/// Runs `f` and requires a Check.DataError whose message contains every fragment.
let expectDataError (fragments: string list) (f: unit -> 'a) =
    let msg =
        try
            f () |> ignore
            failtest "expected a Check.DataError, but the call succeeded"
        with Check.DataError msg -> msg
    for s in fragments do Expect.stringContains msg s $"the error message names '{s}'"

/// Per-feature mean and population std of a [N, d] tensor, in float64.
let columnStats (x: Tensor) =
    use x64 = x.to_type(torch.float64)
    use m = x64.mean([| 0L |])
    use s = x64.std(0L, false)
    T.toArray64 m, T.toArray64 s

/// Rows of a tensor as float arrays.
let rows (x: Tensor) =
    let d = int x.shape[1]
    T.toArray64 x |> Array.chunkBySize d

/// Standardization with training statistics only: the union of the three splits, sorted lexicographically, must be
/// the raw rows (sorted the same way) under one affine map per feature, and that map must be the training rows'
/// mean and population std. The affine map (x - m)/s with s > 0 is increasing, so sorting the standardized rows
/// recovers the raw order; rows standardized with other statistics would land elsewhere or off the map.
let checkTrainStatistics (raw: Tensor) (d: Dataset) =
    let splits = [ d.Train; d.Valid; d.Test ]
    let tag = splits |> List.mapi (fun k s -> rows s.X |> Array.map (fun r -> r, k)) |> Array.concat
    let sortedZ = tag |> Array.sortWith (fun (a, _) (b, _) -> compare a b)
    let sortedRaw = rows raw |> Array.sortWith compare
    Expect.equal sortedZ.Length sortedRaw.Length "the splits partition the rows"
    let trainRaw = Array.zip sortedRaw sortedZ |> Array.filter (fun (_, (_, k)) -> k = 0) |> Array.map fst
    let features = sortedRaw[0].Length
    let mean = Array.init features (fun j -> trainRaw |> Array.averageBy (fun r -> r[j]))
    let std =
        Array.init features (fun j ->
            let s = sqrt (trainRaw |> Array.averageBy (fun r -> (r[j] - mean[j]) ** 2.0))
            if s < 1e-12 then 1.0 else s)
    // float32 standardization: mean/std accumulated over <= 1e4 rows in float32 (pairwise sums: relative error
    // ~ log2(1e4)·eps32 ≈ 2e-6) and |z| up to ~15 on UCI's heavy-tailed features, so errors stay below ~3e-5; 1e-4.
    let tol = 1e-4
    let worst =
        Array.zip sortedRaw sortedZ
        |> Array.collect (fun (x, (z, _)) -> Array.init features (fun j -> abs (z[j] - (x[j] - mean[j]) / std[j])))
        |> Array.max
    Expect.isLessThan worst tol "every split is (raw - train mean) / train std"

/// Train split standardized: per-feature mean 0 and population std 1.
let checkStandardTrain (d: Dataset) =
    let m, s = columnStats d.Train.X
    // float32 z-scores of <= 1e4 rows: mean and std of the float64 re-computation are off by float32 rounding of the
    // statistics (~1e-6 relative, times |z| <= ~15); 1e-4 leaves margin.
    Expect.isLessThan (m |> Array.map abs |> Array.max) 1e-4 "train mean 0 per feature"
    Expect.isLessThan (s |> Array.map (fun v -> abs (v - 1.0)) |> Array.max) 1e-4 "train std 1 per feature"

let labelsIn (classes: int) (y: Tensor) =
    Expect.equal y.dtype torch.int64 "labels are int64"
    Expect.isGreaterThanOrEqual (y.min().ToInt64()) 0L "labels >= 0"
    Expect.isLessThan (y.max().ToInt64()) (int64 classes) "labels < classes"

/// A small image set: n images of rows x cols and labels 0..9, seeded.
let imageSet (seed: int) (n: int) (r: int) (c: int) =
    { Dims = [| n; r; c |]; Data = randomBytes seed (n * r * c) }, { Dims = [| n |]; Data = Array.init n (fun i -> byte ((i * 7 + seed) % 10)) }

/// Pixel features must be (byte/255 - 0.1307)/0.3081 for some byte.
let checkPixelScale (x: Tensor) =
    let worst =
        T.toArray64 x |> Array.map (fun z -> let b = (z * 0.3081 + 0.1307) * 255.0 in abs (b - round b)) |> Array.max
    // float32 z ≈ 3: inverting the map multiplies eps32·3 by 0.3081·255 ≈ 79, i.e. ~3e-5 of a byte step; 1e-3.
    Expect.isLessThan worst 1e-3 "pixels are standardized bytes with the thesis constants"

let csvText = "f1,f2,f3,label\n1.5,2,3,0\n-4,5e-1,6,2\n7,8,9,1\n"

[<Tests>]
let idx =
    testList "Data.Idx" [
        testProp "encode/parse round trip, raw and gzip" (fun (seed: int) (n: byte) (r: byte) (c: byte) (compressed: bool) ->
            let dims = [| int n % 6; int r % 5 + 1; int c % 5 + 1 |]
            let a = { Dims = dims; Data = randomBytes seed (Array.fold (*) 1 dims) }
            let bytes = Idx.encode a
            let b = Idx.parse "mem" (if compressed then gzip bytes else bytes)
            b.Dims = a.Dims && b.Data = a.Data)
        test "read: images -> float32 [N, rows*cols] in [0, 1]; labels -> int64 [N]; gzip and raw files" {
            withTemp (fun dir ->
                let images, labels = imageSet 3 7 4 5
                for ext in [ ""; ".gz" ] do
                    Idx.write (Path.Combine(dir, $"img{ext}")) images
                    Idx.write (Path.Combine(dir, $"lab{ext}")) labels
                    use x = Idx.read (Path.Combine(dir, $"img{ext}"))
                    use y = Idx.read (Path.Combine(dir, $"lab{ext}"))
                    Expect.equal (T.shape x) [| 7; 20 |] "images flattened"
                    Expect.equal x.dtype torch.float32 "float32 pixels"
                    use expected = T.ofArray torch.CPU [ 7; 20 ] (images.Data |> Array.map (fun b -> float32 b / 255.0f))
                    // the same float32 division by 255 on both sides: bit-exact
                    Expect.allClose Tolerance.exact x expected "pixel / 255"
                    Expect.equal (T.shape y) [| 7 |] "labels"
                    labelsIn 10 y
                    Expect.equal (T.toArray64 y) (labels.Data |> Array.map float) "label values"
                Expect.isLessThan (FileInfo(Path.Combine(dir, "img.gz")).Length) (FileInfo(Path.Combine(dir, "img")).Length + 64L) "gz file is gzip"
                Expect.equal ((File.ReadAllBytes(Path.Combine(dir, "img.gz")))[0..1]) [| 0x1fuy; 0x8buy |] "gzip magic"
                Expect.isEmpty (Directory.GetFiles(dir, "*.tmp")) "no temporary files left"
                // overwrite in place
                Idx.write (Path.Combine(dir, "lab")) { Dims = [| 2 |]; Data = [| 9uy; 0uy |] }
                Expect.equal (Idx.load (Path.Combine(dir, "lab"))).Data [| 9uy; 0uy |] "rewritten")
        }
        test "missing, garbled, truncated and wrong-type files give DataError naming the problem" {
            withTemp (fun dir ->
                let images, _ = imageSet 1 3 4 4
                let good = Idx.encode images
                let put name (bytes: byte[]) = let p = Path.Combine(dir, name) in File.WriteAllBytes(p, bytes); p
                expectDataError [ "File not found"; "weightflow data prepare" ] (fun () -> Idx.read (Path.Combine(dir, "nope")))
                expectDataError [ "not an IDX" ] (fun () -> Idx.read (put "csv" (Text.Encoding.ASCII.GetBytes csvText)))
                expectDataError [ "not an IDX file"; "shorter" ] (fun () -> Idx.read (put "tiny" [| 0uy; 0uy |]))
                expectDataError [ "truncated IDX file"; "48 data bytes"; "47" ] (fun () -> Idx.read (put "short" good[.. good.Length - 2]))
                expectDataError [ "truncated IDX header" ] (fun () -> Idx.read (put "head" good[.. 9]))
                expectDataError [ "trailing" ] (fun () -> Idx.read (put "long" (Array.append good [| 1uy |])))
                expectDataError [ "float32"; "unsigned-byte" ] (fun () -> Idx.read (put "float" (Array.append [| 0uy; 0uy; 0x0Duy; 1uy |] good[4..])))
                expectDataError [ "gzip" ] (fun () -> Idx.read (put "bad.gz" (Array.append [| 0x1fuy; 0x8buy; 8uy |] (randomBytes 5 100))))
                // a gzip file cut short: either the stream or the IDX byte count reports it
                let gz = gzip good
                expectDataError [ "truncated" ] (fun () -> Idx.read (put "cut.gz" gz[.. gz.Length / 2])))
        }
        test "encode rejects dimensions that do not match the data" {
            Expect.throwsT<ArgumentException> (fun () -> Idx.encode { Dims = [| 2; 3 |]; Data = Array.zeroCreate 5 } |> ignore) "6 != 5"
        }
    ]

[<Tests>]
let csv =
    testList "Data.Csv" [
        test "header detected, label last, shapes and values" {
            let x, y = Csv.parse Csv.defaults "mem" (csvText.Split '\n')
            Expect.equal (T.shape x) [| 3; 3 |] "3 rows x 3 features"
            Expect.equal (T.toArray64 x) [| 1.5; 2.0; 3.0; -4.0; 0.5; 6.0; 7.0; 8.0; 9.0 |] "features"
            Expect.equal (T.toArray64 y) [| 0.0; 2.0; 1.0 |] "labels"
            labelsIn 3 y
        }
        test "no header, label in column 0, ';' separator, blank lines" {
            let x, y = Csv.parse { Csv.defaults with LabelColumn = 0 } "mem" [ "1;0.5;2"; ""; "0;3;4"; "  " ]
            Expect.equal (T.shape x) [| 2; 2 |] "2 rows x 2 features"
            Expect.equal (T.toArray64 x) [| 0.5; 2.0; 3.0; 4.0 |] "features"
            Expect.equal (T.toArray64 y) [| 1.0; 0.0 |] "labels"
        }
        test "sklearn's breast-cancer header (569,30,malignant,benign) counts as a header" {
            let _, y = Csv.parse Csv.defaults "mem" [ "2,1,a,b"; "0.5,1"; "0.25,0" ]
            Expect.equal (T.shape y) [| 2 |] "two data rows"
        }
        test "read from a file; missing and garbled files give DataError with the line" {
            withTemp (fun dir ->
                let put name (text: string) = let p = Path.Combine(dir, name) in File.WriteAllText(p, text); p
                let x, _ = Csv.read Csv.defaults (put "ok.csv" csvText)
                Expect.equal (T.shape x) [| 3; 3 |] "read from disk"
                expectDataError [ "File not found"; "nope.csv" ] (fun () -> Csv.read Csv.defaults (Path.Combine(dir, "nope.csv")))
                expectDataError [ "empty" ] (fun () -> Csv.read Csv.defaults (put "empty.csv" "\n\n"))
                expectDataError [ "no data rows" ] (fun () -> Csv.read Csv.defaults (put "head.csv" "a,b,label\n"))
                expectDataError [ "line 3"; "2 column(s)" ] (fun () -> Csv.read Csv.defaults (put "ragged.csv" "1,2,0\n3,4,1\n5,6\n"))
                expectDataError [ "line 2, column 2"; "'x'" ] (fun () -> Csv.read Csv.defaults (put "text.csv" "1,2,0\n3,x,1\n"))
                expectDataError [ "line 1, column 1"; "empty" ] (fun () -> Csv.read Csv.defaults (put "gap.csv" ",2,0\n"))
                expectDataError [ "label 0.5"; "0..C-1" ] (fun () -> Csv.read Csv.defaults (put "frac.csv" "1,2,0.5\n"))
                expectDataError [ "label -1" ] (fun () -> Csv.read Csv.defaults (put "neg.csv" "1,2,-1\n"))
                expectDataError [ "1 column(s)" ] (fun () -> Csv.read Csv.defaults (put "one.csv" "1\n2\n"))
                Expect.throwsT<ArgumentException> (fun () -> Csv.read { Csv.defaults with LabelColumn = 5 } (put "c.csv" "1,2,0\n") |> ignore) "no column 5")
        }
    ]

[<Tests>]
let sources =
    testList "Data.Sources" [
        test "uci: embedded 569 x 30, 2 classes, 455/57/57, train standardized, valid/test with train statistics" {
            let d = Sources.uci 42L
            Expect.equal (d.Features, d.Classes) (30, 2) "30 features, 2 classes"
            Expect.equal (Dataset.count d.Train, Dataset.count d.Valid, Dataset.count d.Test) (455, 57, 57) "80/10/10"
            for s in [ d.Train; d.Valid; d.Test ] do labelsIn 2 s.Y
            // 212 malignant (0) and 357 benign (1) in the whole set (UCI's documented class counts)
            let malignant = [ d.Train; d.Valid; d.Test ] |> List.sumBy (fun s -> s.Y.eq(torch.tensor 0L).sum().ToInt64())
            Expect.equal malignant 212L "212 malignant"
            checkStandardTrain d
            use stream = typeof<Split>.Assembly.GetManifestResourceStream Sources.uciResource
            use reader = new StreamReader(stream)
            let raw, _ = Csv.parse Csv.defaults "uci" (reader.ReadToEnd().Split '\n')
            checkTrainStatistics raw d
        }
        test "the train-statistics check rejects a split standardized with all rows (the thesis code's leak)" {
            use stream = typeof<Split>.Assembly.GetManifestResourceStream Sources.uciResource
            use reader = new StreamReader(stream)
            let raw, y = Csv.parse Csv.defaults "uci" (reader.ReadToEnd().Split '\n')
            let all = { X = raw; Y = y }
            let leakyAll = Dataset.standardize (Dataset.standardizer all) all
            use g = Scope.Rng.create 0L
            use perm = torch.randperm(569L, generator = g)
            let part a n = Dataset.take leakyAll (perm.narrow(0L, a, n))
            let leaky = { Name = "leaky"; Features = 30; Classes = 2; Train = part 0L 455L; Valid = part 455L 57L; Test = part 512L 57L }
            let rejected = try checkTrainStatistics raw leaky; false with :? AssertException -> true
            Expect.isTrue rejected "all-row statistics are detected"
        }
        test "uci: the split is a function of the seed" {
            let a, b, c = Sources.uci 1L, Sources.uci 1L, Sources.uci 2L
            Expect.isTrue (T.equal a.Test.X b.Test.X) "same seed, same split"
            Expect.isFalse (T.equal a.Test.X c.Test.X) "another seed, another split"
        }
        test "csv: generated file, classes from the labels, train statistics" {
            withTemp (fun dir ->
                let r = Random 11
                let lines = [ for i in 0 .. 99 -> $"{float i * 0.37 + r.NextDouble()},{r.NextDouble() * 50.0 - 3.0},{i % 3}" ]
                let path = Path.Combine(dir, "toy.csv")
                File.WriteAllLines(path, "a,b,y" :: lines)
                let d = Sources.load (Task.Csv path) 5L
                Expect.equal (d.Features, d.Classes) (2, 3) "2 features, 3 classes"
                Expect.equal (Dataset.count d.Train, Dataset.count d.Valid, Dataset.count d.Test) (80, 10, 10) "80/10/10"
                checkStandardTrain d
                let raw, _ = Csv.read Csv.defaults path
                checkTrainStatistics raw d)
        }
        test "mnist subset: 80/10/10 seeded split, thesis pixel constants; standard files take precedence" {
            withTemp (fun dir ->
                let images, labels = imageSet 4 50 28 28
                Idx.write (Path.Combine(dir, Sources.mnistFolder, Sources.mnistSubsetImages)) images
                Idx.write (Path.Combine(dir, Sources.mnistFolder, Sources.mnistSubsetLabels)) labels
                let d = Sources.mnist dir 3L
                Expect.equal (d.Features, d.Classes) (784, 10) "784 pixels, 10 classes"
                Expect.equal (Dataset.count d.Train, Dataset.count d.Valid, Dataset.count d.Test) (40, 5, 5) "80/10/10"
                for s in [ d.Train; d.Valid; d.Test ] do
                    labelsIn 10 s.Y
                    checkPixelScale s.X
                Expect.isTrue (T.equal (Sources.mnist dir 3L).Valid.X d.Valid.X) "deterministic in the seed"
                // a user's full MNIST in the standard names is used instead of the subset
                let trI, trL = imageSet 6 12 28 28
                let teI, teL = imageSet 7 6 28 28
                for name, a in [ "train-images-idx3-ubyte", trI; "train-labels-idx1-ubyte", trL; "t10k-images-idx3-ubyte", teI; "t10k-labels-idx1-ubyte", teL ] do
                    Idx.write (Path.Combine(dir, Sources.mnistFolder, name)) a
                let s = Sources.mnist dir 3L
                Expect.equal (Dataset.count s.Train, Dataset.count s.Valid, Dataset.count s.Test) (12, 3, 3) "official split")
        }
        test "fashion-mnist: official train set, test split 50/50 seeded into valid/test, gzip and raw names" {
            withTemp (fun dir ->
                let trI, trL = imageSet 8 20 28 28
                let teI, teL = imageSet 9 11 28 28
                let folder = Path.Combine(dir, Sources.fashionFolder)
                Idx.write (Path.Combine(folder, "train-images-idx3-ubyte.gz")) trI
                Idx.write (Path.Combine(folder, "train-labels-idx1-ubyte.gz")) trL
                Idx.write (Path.Combine(folder, "t10k-images-idx3-ubyte")) teI
                Idx.write (Path.Combine(folder, "t10k-labels-idx1-ubyte")) teL
                let d = Sources.fashionMnist dir 0L
                Expect.equal (Dataset.count d.Train, Dataset.count d.Valid, Dataset.count d.Test) (20, 5, 6) "20 / 11 split 5 + 6"
                // the training split keeps the file's order: its rows are the file's bytes under the pixel map
                use expected = T.ofArray torch.CPU [ 20; 784 ] (trI.Data |> Array.map (fun b -> (float32 b / 255.0f - 0.1307f) / 0.3081f))
                // float32 (b/255 - m)/s computed in two orders: a few ulps of |z| <= 3; 1e-5
                Expect.allClose 1e-5 d.Train.X expected "train = (pixel/255 - 0.1307) / 0.3081"
                Expect.equal (T.toArray64 d.Train.Y) (trL.Data |> Array.map float) "train labels in file order"
                for s in [ d.Valid; d.Test ] do checkPixelScale s.X
                let a, b = Sources.fashionMnist dir 0L, Sources.fashionMnist dir 1L
                Expect.isTrue (T.equal a.Test.X d.Test.X) "same seed, same valid/test"
                Expect.isFalse (T.equal a.Test.Y b.Test.Y && T.equal a.Test.X b.Test.X) "another seed, another valid/test")
        }
        test "missing prepared data names the prepare command" {
            withTemp (fun dir ->
                expectDataError [ "MNIST not found"; "weightflow data prepare"; Sources.mnistSubsetImages ] (fun () -> Sources.mnist dir 0L)
                expectDataError [ "fashion-mnist not found"; "weightflow data prepare"; "t10k-labels-idx1-ubyte" ] (fun () -> Sources.fashionMnist dir 0L))
        }
        test "labels out of range are rejected" {
            withTemp (fun dir ->
                let images, _ = imageSet 4 10 28 28
                Idx.write (Path.Combine(dir, Sources.mnistFolder, Sources.mnistSubsetImages)) images
                Idx.write (Path.Combine(dir, Sources.mnistFolder, Sources.mnistSubsetLabels)) { Dims = [| 10 |]; Data = Array.create 10 12uy }
                Expect.throwsT<ArgumentException> (fun () -> Sources.mnist dir 0L |> ignore) "label 12 of 10 classes")
        }
        test "unknown task names the valid ones" {
            let e = Expect.throwsC (fun () -> Task.parse "cifar" |> ignore) id
            Expect.isTrue (e :? ArgumentException) $"an ArgumentException, got {e.GetType().Name}"
            Expect.stringContains e.Message "uci, mnist, fashion-mnist or csv:PATH" "lists the tasks"
        }
        test "Task.parse inverts Task.name, and the names are the ones zoo files have always recorded" {
            let tasks = [ Task.Uci, "uci"; Task.Mnist, "mnist"; Task.FashionMnist, "fashion-mnist"
                          Task.Csv "data/my file.csv", "csv:data/my file.csv"; Task.Custom "blobs", "custom:blobs" ]
            for task, name in tasks do
                Expect.equal (Task.name task) name $"name of {task}"
                Expect.equal (Task.parse name) task $"parse {name}"
            Expect.equal (Task.parse " fmnist ") Task.FashionMnist "the short Fashion-MNIST name"
            Expect.equal (Task.parse "CSV:Data.csv") (Task.Csv "Data.csv") "prefix case-insensitive, path kept"
        }
        test "in-memory data cannot be reloaded by name, and the error says so" {
            let e = Expect.throwsC (fun () -> Sources.load (Task.Custom "blobs") 0L |> ignore) id
            Expect.stringContains e.Message "custom:blobs" "names the task"
        }
        test "mnistDigitsToIdx: recovers every byte from 3-decimal JSON, labels by digit, order kept" {
            let bytes d n = Array.init (n * 784) (fun i -> byte ((i * 31 + d * 7) % 256))
            let json (b: byte[]) =
                let values = b |> Array.map (fun v -> Math.Round(float v / 255.0, 3).ToString(Globalization.CultureInfo.InvariantCulture))
                "{ \"data\": [" + String.Join(",", values) + "] }"
            let images, labels = Sources.mnistDigitsToIdx [ 3, json (bytes 3 2); 0, json (bytes 0 1) ]
            Expect.equal images.Dims [| 3; 28; 28 |] "3 images"
            Expect.equal images.Data (Array.append (bytes 3 2) (bytes 0 1)) "bytes recovered exactly"
            Expect.equal labels.Data [| 3uy; 3uy; 0uy |] "labels"
            expectDataError [ "9.json"; "JSON" ] (fun () -> Sources.mnistDigitsToIdx [ 9, "{ \"pixels\": [] }" ])
            expectDataError [ "5.json"; "784" ] (fun () -> Sources.mnistDigitsToIdx [ 5, "{ \"data\": [0, 1] }" ])
            expectDataError [ "[0, 1]" ] (fun () -> Sources.mnistDigitsToIdx [ 5, "{ \"data\": [" + String.Join(",", Array.create 784 "2") + "] }" ])
        }
        test "isValid: exists, parses and has the expected dimensions" {
            withTemp (fun dir ->
                let f = { Sources.Set = "t"; Sources.File = Path.Combine("x", "l.gz"); Sources.Dims = [| 4 |] }
                Expect.isFalse (Sources.isValid dir f) "missing"
                Idx.write (Path.Combine(dir, f.File)) { Dims = [| 4 |]; Data = [| 1uy; 2uy; 3uy; 4uy |] }
                Expect.isTrue (Sources.isValid dir f) "valid"
                Expect.isFalse (Sources.isValid dir { f with Sources.Dims = [| 5 |] }) "wrong dimensions"
                Idx.write (Path.Combine(dir, f.File)) { Dims = [| 4 |]; Data = [| 1uy; 2uy; 3uy; 10uy |] }
                Expect.isFalse (Sources.isValid dir f) "label 10 is not a digit"
                File.WriteAllText(Path.Combine(dir, f.File), "garbage")
                Expect.isFalse (Sources.isValid dir f) "garbled")
        }
        test "gaussianToy: [n, 802], x0 ~ N(0, I), x1 ~ N(1, I), independent, deterministic in the seed" {
            let x0, x1 = Sources.gaussianToy 9L 100
            Expect.equal (T.shape x0, T.shape x1) ([| 100; 802 |], [| 100; 802 |]) "[n, P] for 30-16-16-2"
            // 80,200 draws each: s.e. of the mean 1/sqrt(80200) ≈ 0.0035 and of the std 1/sqrt(2·80200) ≈ 0.0025;
            // bounds at 4 s.e.
            Expect.floatClose { absolute = 0.014; relative = 0.0 } (x0.mean().ToDouble()) 0.0 "x0 mean 0"
            Expect.floatClose { absolute = 0.014; relative = 0.0 } (x1.mean().ToDouble()) 1.0 "x1 mean 1"
            Expect.floatClose { absolute = 0.01; relative = 0.0 } (x0.std().ToDouble()) 1.0 "x0 std 1"
            Expect.floatClose { absolute = 0.01; relative = 0.0 } (x1.std().ToDouble()) 1.0 "x1 std 1"
            // correlation of independent draws: s.e. 1/sqrt(80200); 4 s.e.
            let corr = ((x0 - x0.mean()) * (x1 - x1.mean())).mean().ToDouble() / (x0.std().ToDouble() * x1.std().ToDouble())
            Expect.floatClose { absolute = 0.014; relative = 0.0 } corr 0.0 "x0 and x1 independent"
            let y0, y1 = Sources.gaussianToy 9L 100
            Expect.isTrue (T.equal x0 y0 && T.equal x1 y1) "same seed, same draws"
            let w0, _ = Sources.gaussianToy 10L 100
            Expect.isFalse (T.equal x0 w0) "another seed, other draws"
        }
    ]

/// Touches the process environment, so it runs alone.
[<Tests>]
let dataDir =
    testSequenced <| testList "Data.dataDir" [
        test "WEIGHTFLOW_DATA overrides the data folder and the error names it" {
            withTemp (fun dir ->
                let before = Environment.GetEnvironmentVariable Sources.dataDirVariable
                try
                    Environment.SetEnvironmentVariable(Sources.dataDirVariable, dir)
                    Expect.equal (Sources.dataDir ()) (Path.GetFullPath dir) "the variable's folder"
                    expectDataError [ Path.Combine(dir, "mnist"); "weightflow data prepare"; "WEIGHTFLOW_DATA" ] (fun () -> Sources.load Task.Mnist 0L)
                finally
                    Environment.SetEnvironmentVariable(Sources.dataDirVariable, before))
        }
        test "without WEIGHTFLOW_DATA: data/ next to WeightFlow.sln above the current folder, else ./data" {
            let before = Environment.GetEnvironmentVariable Sources.dataDirVariable
            try
                Environment.SetEnvironmentVariable(Sources.dataDirVariable, null)
                let d = Sources.dataDir ()
                Expect.equal (Path.GetFileName d) "data" "a folder named data"
                let root = Path.GetDirectoryName d
                let inRepo = File.Exists(Path.Combine(root, "WeightFlow.sln"))
                Expect.isTrue (inRepo || d = Path.GetFullPath "data") "the repository's data/ or ./data"
            finally
                Environment.SetEnvironmentVariable(Sources.dataDirVariable, before)
        }
    ]
