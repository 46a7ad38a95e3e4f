/// Issue 15: bad input gets one typed error (WeightFlowError: a kind and a message naming the problem and the fix).
/// One row per case of the issue's list: data sets (CSV, IDX), WeightFlow files (zoo, flow, samples) of the wrong
/// kind, truncated, lying about sizes, of the wrong dtype or format version, holding NaN; impossible options.
module WeightFlow.Tests.TestValidation

open System
open System.IO
open System.Threading
open Expecto
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// A fresh folder, deleted afterwards.
let withDir (f: string -> unit) =
    let dir = Path.Combine(Path.GetTempPath(), $"wf-valid-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally Directory.Delete(dir, true)

/// Runs `f` and requires a WeightFlowError (or, for `InvalidOption`, an ArgumentException, which `Check.classify`
/// maps to it) of `kind` whose message contains every fragment; returns the message.
let expectError (kind: Check.ErrorKind) (fragments: string list) (f: unit -> 'a) : string =
    let e =
        try
            f () |> ignore
            failtest $"expected a WeightFlowError {kind}, but the call succeeded"
        with
        | :? Expecto.AssertException -> reraise ()
        | e -> e
    match Check.classify e with
    | Some(k, msg) ->
        Expect.equal k kind $"error kind (message: {msg})"
        for s in fragments do Expect.stringContains msg s $"the message names '{s}'"
        Expect.isFalse (msg.Contains '\n') "one line"
        msg
    | None -> failtest $"expected a WeightFlowError {kind}, got {e.GetType().Name}: {e.Message}"

/// Small valid files of every kind, written once per test into `dir`.
type Files = { Zoo: string; Flow: string; Samples: string; Csv: string; Idx: string; IdxGz: string }

let tinyZoo () =
    Zoo.train { TestZoo.smallConfig with Runs = 2; Epochs = 1 } TestZoo.blobsTask (TestZoo.blobs 1L) ignore CancellationToken.None

let tinyFlow (layout: Layout) (kind: VelocityKind) =
    use gen = Scope.Rng.create 1L
    let model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults kind 8 1) layout
    { Space = FlowSpace.create Euclidean 1e-4 layout; Prior = Prior.defaults; Prediction = Endpoint; Model = model }

let csvText =
    let r = Random 5
    let rows = [ for i in 0 .. 39 -> $"{r.NextDouble():F3},{r.NextDouble():F3},{i % 2}" ]
    String.Join("\n", "a,b,label" :: rows) + "\n"

let writeFiles (dir: string) : Files =
    let p name = Path.Combine(dir, name)
    let zoo = tinyZoo ()
    Zoo.save (p "zoo.safetensors") zoo
    let flow = tinyFlow zoo.Layout VelocityKind.Rt
    Flow.save (p "flow.safetensors") flow
    use theta = torch.randn(3L, int64 (Layout.paramCount zoo.Layout))
    Sampling.save (p "samples.safetensors") [] flow { Layout = zoo.Layout; Theta = theta; NonFinite = [||]; Seconds = 0.0 }
    File.WriteAllText(p "data.csv", csvText)
    Idx.write (p "labels-idx1-ubyte") { Dims = [| 6 |]; Data = [| 0uy; 1uy; 2uy; 3uy; 4uy; 5uy |] }
    Idx.write (p "labels-idx1-ubyte.gz") { Dims = [| 6 |]; Data = [| 0uy; 1uy; 2uy; 3uy; 4uy; 5uy |] }
    { Zoo = p "zoo.safetensors"; Flow = p "flow.safetensors"; Samples = p "samples.safetensors"; Csv = p "data.csv"
      Idx = p "labels-idx1-ubyte"; IdxGz = p "labels-idx1-ubyte.gz" }

/// A safetensors file with a hand-written header.
let safetensors (json: string) (data: byte[]) =
    let h = Text.Encoding.UTF8.GetBytes json
    Array.concat [ BitConverter.GetBytes(int64 h.Length); h; data ]

/// Rewrites one metadata entry of a WeightFlow file (same tensors), as an editor of the header would.
let editMeta (path: string) (key: string) (value: string) =
    let s = Storage.read path
    Storage.write path (s.Metadata.Add(key, value)) s.Tensors

let put (dir: string) (name: string) (text: string) =
    let path = Path.Combine(dir, name)
    File.WriteAllText(path, text)
    path

let loaders () =
    [ "zoo", (fun (p: string) -> Zoo.load p |> ignore)
      "flow", (fun p -> Flow.load torch.CPU p |> ignore)
      "samples", (fun p -> Sampling.load p |> ignore)
      "csv", (fun p -> Csv.read Csv.defaults p |> ignore)
      "idx", (fun p -> Idx.load p |> ignore) ]

[<Tests>]
let tests =
    testList "Validation" [
        // --- the three reproduced bugs ---------------------------------------------------------------------------
        test "bug: a one-row CSV is refused as too small for its split (it trained a zoo reporting NaN ± NaN)" {
            withDir (fun dir ->
                let path = put dir "one.csv" "1.0,2.0,0\n"
                expectError Check.ErrorKind.InvalidData [ "too small"; "split"; "rows" ] (fun () -> Sources.load (Task.Csv path) 0L) |> ignore
                // two classes, 4 rows: the 80/10/10 split leaves the validation split empty
                let four = put dir "four.csv" (String.Join("\n", [ for i in 0 .. 3 -> $"{i}.0,{i % 2}" ]))
                expectError Check.ErrorKind.InvalidData [ "too small"; "validation 0" ] (fun () -> Sources.load (Task.Csv four) 0L) |> ignore)
        }
        test "bug: labels {0, 1, 7} are refused (they silently became an 8-class task), naming the missing labels" {
            withDir (fun dir ->
                let rows = [ for i in 0 .. 59 -> $"{i}.5,{float (i * 7 % 13)},{[| 0; 1; 7 |][i % 3]}" ]
                let path = put dir "gaps.csv" (String.Join("\n", rows))
                expectError Check.ErrorKind.InvalidData [ "{0, 1, 7}"; "missing 2, 3, 4, 5, 6"; "Relabel"; "0..2" ] (fun () -> Sources.load (Task.Csv path) 0L) |> ignore
                // the same rows with labels 0, 1, 2 load as a 3-class task
                let ok = put dir "ok.csv" (String.Join("\n", [ for i in 0 .. 59 -> $"{i}.5,{float (i * 7 % 13)},{i % 3}" ]))
                Expect.equal (Sources.load (Task.Csv ok) 0L).Classes 3 "3 classes")
        }
        test "bug: a CSV passed as a zoo says it is not a zoo file (it reported a 7e18-byte header)" {
            withDir (fun dir ->
                let path = put dir "data.csv" csvText
                let msg = expectError Check.ErrorKind.WrongKind [ "is not a zoo file"; "CSV"; "--task csv:" ] (fun () -> Zoo.load path)
                Expect.isFalse (msg.Contains "7305508662777359457") "no made-up size")
        }
        // --- every pairing of expected and given file kind ------------------------------------------------------------
        test "every loader names the kind of a file of another kind (zoo, flow, samples, CSV, IDX, gzip IDX)" {
            withDir (fun dir ->
                let f = writeFiles dir
                let given = [ "zoo", f.Zoo; "flow", f.Flow; "samples", f.Samples; "csv", f.Csv; "idx", f.Idx; "idx.gz", f.IdxGz ]
                let says = dict [ "zoo", "zoo"; "flow", "flow"; "samples", "sampled networks"; "csv", "CSV"; "idx", "IDX"; "idx.gz", "gzip" ]
                let mutable pairs = 0
                for expected, load in loaders () do
                    for kind, path in given do
                        let same = kind = expected || (expected = "idx" && kind = "idx.gz")
                        if same then load path
                        elif expected = "idx" && kind = "idx.gz" then ()
                        else
                            // a gzip file is a valid container for IDX; a gzipped non-IDX is caught by the IDX checks
                            expectError Check.ErrorKind.WrongKind [ path; says[kind] ] (fun () -> load path) |> ignore
                            pairs <- pairs + 1
                Expect.equal pairs 24 "5 loaders x 6 files, less each loader's own kind and gzip IDX for the IDX loader")
        }
        // --- CSV --------------------------------------------------------------------------------------------------------
        test "CSV: ragged row, non-numeric cell, NaN, infinity, empty cell, non-integer and negative labels" {
            withDir (fun dir ->
                let read name text = fun () -> Csv.read Csv.defaults (put dir name text)
                expectError Check.ErrorKind.InvalidData [ "line 3 has 2 column(s)"; "3" ] (read "ragged.csv" "1,2,0\n3,4,1\n5,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "line 2, column 2"; "'abc' is not a number" ] (read "text.csv" "1,2,0\n3,abc,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "line 2, column 1"; "NaN or infinite" ] (read "nan.csv" "1,2,0\nNaN,4,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "NaN or infinite" ] (read "inf.csv" "1,2,0\n3,-Infinity,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "NaN or infinite" ] (read "big.csv" "1,2,0\n3,1e999,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "empty" ] (read "empty-cell.csv" "1,2,0\n3,,1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "label 0.5 is not a class index" ] (read "half.csv" "1,2,0\n3,4,0.5\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "label -1 is not a class index" ] (read "neg.csv" "1,2,0\n3,4,-1\n") |> ignore
                expectError Check.ErrorKind.InvalidData [ "empty" ] (read "nothing.csv" "") |> ignore
                expectError Check.ErrorKind.InvalidData [ "header but no data rows" ] (read "header.csv" "a,b,c\n") |> ignore
                expectError Check.ErrorKind.NotFound [ "File not found" ] (fun () -> Csv.read Csv.defaults (Path.Combine(dir, "nope.csv"))) |> ignore)
        }
        test "CSV: one class only, and a class missing from a split, are refused naming the class" {
            withDir (fun dir ->
                let single = put dir "single.csv" (String.Join("\n", [ for i in 0 .. 39 -> $"{i}.0,0" ]))
                expectError Check.ErrorKind.InvalidData [ "at least two classes" ] (fun () -> Sources.load (Task.Csv single) 0L) |> ignore
                // class 2 has one row: two of the three splits lack it
                let rows = [ for i in 0 .. 39 -> $"{i}.0,{i % 2}" ] @ [ "99.0,2" ]
                let rare = put dir "rare.csv" (String.Join("\n", rows))
                expectError Check.ErrorKind.InvalidData [ "no row of class 2"; "every split needs every class" ] (fun () -> Sources.load (Task.Csv rare) 0L) |> ignore)
        }
        // --- IDX ----------------------------------------------------------------------------------------------------------
        test "IDX: wrong magic, wrong type, truncated, trailing bytes, a header declaring gigabytes, a corrupt gzip" {
            let good = Idx.encode { Dims = [| 2; 3; 4 |]; Data = Array.init 24 byte }
            let parse (b: byte[]) = fun () -> Idx.parse "x.idx" b
            expectError Check.ErrorKind.Corrupt [ "not an IDX file"; "magic" ] (parse (Array.append [| 1uy; 2uy |] good[2..])) |> ignore
            expectError Check.ErrorKind.Corrupt [ "type float32" ] (parse (Array.concat [ good[..1]; [| 0x0Duy |]; good[3..] ])) |> ignore
            expectError Check.ErrorKind.Corrupt [ "truncated IDX file"; "24 data bytes"; "23" ] (parse good[.. good.Length - 2]) |> ignore
            expectError Check.ErrorKind.Corrupt [ "1 unexpected trailing" ] (parse (Array.append good [| 7uy |])) |> ignore
            // dims 65535 x 65535 x 65535: 2.8e14 bytes declared by a 16-byte header, refused before allocating
            let huge = Array.concat [ good[..3]; Array.replicate 3 [| 0uy; 0uy; 0xFFuy; 0xFFuy |] |> Array.concat ]
            expectError Check.ErrorKind.Corrupt [ "more than the 1073741824 data bytes" ] (parse huge) |> ignore
            let gz = TestData.gzip good
            expectError Check.ErrorKind.Corrupt [ "x.idx" ] (parse gz[.. gz.Length - 12]) |> ignore
            Expect.equal (Idx.parse "ok" gz).Dims [| 2; 3; 4 |] "the gzip file itself reads"
        }
        // --- WeightFlow files --------------------------------------------------------------------------------------------
        test "zoo/flow/samples: truncated files and byte ranges outside the file are Corrupt, naming the file" {
            withDir (fun dir ->
                let f = writeFiles dir
                for path, load in [ f.Zoo, Zoo.load >> ignore; f.Flow, Flow.load torch.CPU >> ignore; f.Samples, Sampling.load >> ignore ] do
                    let bytes = File.ReadAllBytes path
                    let cut = Path.Combine(dir, "cut-" + Path.GetFileName path)
                    File.WriteAllBytes(cut, bytes[.. bytes.Length - 5])
                    expectError Check.ErrorKind.Corrupt [ cut; "truncated or corrupt" ] (fun () -> load cut) |> ignore)
        }
        test "headers lying about sizes are refused before allocating: a shape of 2^62 elements, an overflowing product, a header length of 2^62" {
            withDir (fun dir ->
                let write name (bytes: byte[]) = let p = Path.Combine(dir, name) in File.WriteAllBytes(p, bytes); p
                let big = write "big" (safetensors """{"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}}""" (Array.zeroCreate 8))
                expectError Check.ErrorKind.Corrupt [ "needs more bytes than any file holds" ] (fun () -> Storage.read big) |> ignore
                // 2^32 x 2^32 x 4 bytes wraps int64 to 0: a 0-byte range would "match" without the overflow check
                let wrap = write "wrap" (safetensors """{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}}""" [||])
                expectError Check.ErrorKind.Corrupt [ "needs more bytes" ] (fun () -> Storage.read wrap) |> ignore
                let header = write "header" (Array.append (BitConverter.GetBytes(1L <<< 62)) (Text.Encoding.ASCII.GetBytes "{\"a\":1}"))
                expectError Check.ErrorKind.Corrupt [ "the header claims 4611686018427387904 bytes" ] (fun () -> Storage.read header) |> ignore
                let dup = write "dup" (safetensors """{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""" (Array.zeroCreate 8))
                expectError Check.ErrorKind.Corrupt [ "names 'a' twice" ] (fun () -> Storage.read dup) |> ignore
                // the fix names the command for each kind of file, not only `weightflow zoo` (a flow or samples file
                // is remade by train / sample)
                expectError Check.ErrorKind.Corrupt [ "`weightflow train`"; "`weightflow sample`"; "--out dup" ] (fun () -> Storage.read dup) |> ignore
                let meta = write "meta" (safetensors """{"__metadata__":{"k":5}}""" [||])
                expectError Check.ErrorKind.Corrupt [ "metadata entry 'k' is not a string" ] (fun () -> Storage.read meta) |> ignore
                let deep = write "deep" (safetensors ("{\"a\":" + String.replicate 40 "[" + String.replicate 40 "]" + "}") [||])
                expectError Check.ErrorKind.Corrupt [ "not JSON" ] (fun () -> Storage.read deep) |> ignore
                let notInt = write "float-shape" (safetensors """{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""" (Array.zeroCreate 4))
                expectError Check.ErrorKind.Corrupt [ "not an integer" ] (fun () -> Storage.read notInt) |> ignore)
        }
        test "wrong dtype, unknown format version, NaN weights, an impossible recorded layout" {
            withDir (fun dir ->
                let f = writeFiles dir
                // zoo theta stored as float64
                let s = Storage.read f.Zoo
                let f64 = Path.Combine(dir, "f64.safetensors")
                Storage.write f64 s.Metadata [ for n, t in s.Tensors -> n, (if n = "theta" then t.to_type(torch.float64) else t) ]
                expectError Check.ErrorKind.Corrupt [ "float32" ] (fun () -> Zoo.load f64) |> ignore
                // samples theta as int32
                let ss = Storage.read f.Samples
                let i32 = Path.Combine(dir, "i32.safetensors")
                Storage.write i32 ss.Metadata [ for n, t in ss.Tensors -> n, t.to_type(torch.int32) ]
                expectError Check.ErrorKind.Corrupt [ "float32" ] (fun () -> Sampling.load i32) |> ignore
                // a flow parameter as float64
                let fs = Storage.read f.Flow
                let ff = Path.Combine(dir, "f-f64.safetensors")
                Storage.write ff fs.Metadata [ for i, (n, t) in List.indexed fs.Tensors -> n, (if i = 0 then t.to_type(torch.float64) else t) ]
                expectError Check.ErrorKind.Corrupt [ "Float64" ] (fun () -> Flow.load torch.CPU ff) |> ignore
                // format version
                for path in [ f.Zoo; f.Flow; f.Samples ] do
                    let v2 = Path.Combine(dir, "v2-" + Path.GetFileName path)
                    File.Copy(path, v2)
                    editMeta v2 "weightflow.format" "2"
                    let load = match path with p when p = f.Zoo -> Zoo.load >> ignore | p when p = f.Flow -> Flow.load torch.CPU >> ignore | _ -> Sampling.load >> ignore
                    expectError Check.ErrorKind.Corrupt [ "format version '2'"; "reads version 1" ] (fun () -> load v2) |> ignore
                // NaN weights in a zoo, a flow and samples
                let nanZoo = Path.Combine(dir, "nan-zoo.safetensors")
                Storage.write nanZoo s.Metadata [ for n, t in s.Tensors -> n, (if n = "theta" then t.index_fill(1L, torch.tensor([| 0L |]), Double.NaN) else t) ]
                expectError Check.ErrorKind.NonFinite [ "NaN or infinite" ] (fun () -> Zoo.load nanZoo) |> ignore
                let nanFlow = Path.Combine(dir, "nan-flow.safetensors")
                Storage.write nanFlow fs.Metadata [ for i, (n, t) in List.indexed fs.Tensors -> n, (if i = 1 then t.fill_(Double.PositiveInfinity) else t) ]
                expectError Check.ErrorKind.NonFinite [ "NaN or infinite" ] (fun () -> Flow.load torch.CPU nanFlow) |> ignore
                let nanSamples = Path.Combine(dir, "nan-samples.safetensors")
                Storage.write nanSamples ss.Metadata [ for n, t in ss.Tensors -> n, t.index_fill(0L, torch.tensor([| 1L |]), Double.NaN) ]
                expectError Check.ErrorKind.NonFinite [ "NaN or infinite" ] (fun () -> Sampling.load nanSamples) |> ignore
                // a zoo whose header claims another layout than its weights; a samples file with a zero-width layout
                let lie = Path.Combine(dir, "lie.safetensors")
                File.Copy(f.Zoo, lie)
                editMeta lie "layout" "4-800-2"
                expectError Check.ErrorKind.Corrupt [ "4-800-2 MLP has" ] (fun () -> Zoo.load lie) |> ignore
                let zero = Path.Combine(dir, "zero.safetensors")
                File.Copy(f.Samples, zero)
                editMeta zero "layout" "4-0-2"
                expectError Check.ErrorKind.Corrupt [ "does not describe samples"; "positive" ] (fun () -> Sampling.load zero) |> ignore)
        }
        test "a flow header describing a model far larger than the stored parameters is refused before it is built" {
            withDir (fun dir ->
                let f = writeFiles dir
                for key, value in [ "model.node_width", "100000"; "model.layers", "5000"; "model.heads", "-1"; "model.node_hidden", "2000000000" ] do
                    let path = Path.Combine(dir, $"lie-{key}.safetensors")
                    File.Copy(f.Flow, path, true)
                    editMeta path key value
                    let before = GC.GetTotalMemory false
                    expectError Check.ErrorKind.Corrupt [ "far larger than the" ] (fun () -> Flow.load torch.CPU path) |> ignore
                    // managed memory is not a bound on native allocation, but a model of width 100,000 would take
                    // tens of GB: that the call returned at once with the error is the check
                    ignore before
                let bad = Path.Combine(dir, "bad-number.safetensors")
                File.Copy(f.Flow, bad, true)
                editMeta bad "model.layers" "three"
                expectError Check.ErrorKind.Corrupt [ "does not describe a flow" ] (fun () -> Flow.load torch.CPU bad) |> ignore
                let sigma = Path.Combine(dir, "sigma.safetensors")
                File.Copy(f.Flow, sigma, true)
                editMeta sigma "flow.sigma" "NaN"
                expectError Check.ErrorKind.Corrupt [ "flow.sigma" ] (fun () -> Flow.load torch.CPU sigma) |> ignore)
        }
        // --- layouts against flows, tasks and data -------------------------------------------------------------------------
        test "layouts that do not fit: another depth for a flow, a wider layout for an MLP flow, a zoo for other data" {
            let layout = Layout.parse "4-8-2"
            let rt = tinyFlow layout VelocityKind.Rt
            let mlp = tinyFlow layout VelocityKind.Mlp
            let sample flow l = fun () -> Sampling.sample { SamplingConfig.defaults 2 with Steps = 2; Layout = Some(Layout.parse l) } ignore torch.CPU flow
            expectError Check.ErrorKind.InvalidOption [ "depth" ] (sample rt "4-8-8-2") |> ignore
            expectError Check.ErrorKind.InvalidOption [ "cannot run on 4-16-2" ] (sample mlp "4-16-2") |> ignore
            Expect.equal (T.shape ((sample rt "4-16-2") ()).Theta) [| 2; Layout.paramCount (Layout.parse "4-16-2") |] "an RT flow samples the wider layout"
            let data = TestZoo.blobs 1L
            expectError Check.ErrorKind.InvalidOption [ "takes 5 inputs"; "4 features" ] (fun () ->
                Zoo.train { TestZoo.smallConfig with Layout = Layout.parse "5-8-2" } TestZoo.blobsTask data ignore CancellationToken.None) |> ignore
        }
        // --- impossible options ---------------------------------------------------------------------------------------------
        test "impossible options: zero or negative counts, t outside [0, 1), non-finite lambda, noise and learning rate, zero widths" {
            let sampling c = fun () -> SamplingConfig.validate c
            let d = SamplingConfig.defaults 4
            expectError Check.ErrorKind.InvalidOption [ "--count"; "0" ] (sampling { d with Count = 0 }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "--steps"; "-3" ] (sampling { d with Steps = -3 }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "--temperature"; "-1" ] (sampling { d with Temperature = -1.0 }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "--temperature"; "NaN" ] (sampling { d with Temperature = nan }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "noise" ] (sampling { d with Noise = Some { Transform.Noise.Eps = nan; Start = 0.5; Stop = 1.0 } }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "noise" ] (sampling { d with Noise = Some { Transform.Noise.Eps = infinity; Start = 0.5; Stop = 1.0 } }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "window" ] (sampling { d with Noise = Some { Transform.Noise.Eps = 0.1; Start = -0.2; Stop = 0.5 } }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "window" ] (sampling { d with Noise = Some { Transform.Noise.Eps = 0.1; Start = 0.5; Stop = 1.5 } }) |> ignore
            let data = TestZoo.blobs 1L
            let guidance l = { d with Guidance = Some { Lambda = l; At = GuideAt.State; Data = data; Batch = 8 } }
            expectError Check.ErrorKind.InvalidOption [ "--guidance" ] (sampling (guidance nan)) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "--guidance" ] (sampling (guidance infinity)) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "--guidance" ] (sampling (guidance -1.0)) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "positive" ] (fun () -> Layout.parse "4-0-2") |> ignore
            expectError Check.ErrorKind.InvalidOption [ "Runs" ] (fun () -> ZooConfig.validate { ZooConfig.uci with Runs = 0 }) |> ignore
            expectError Check.ErrorKind.InvalidOption [ "Epochs" ] (fun () -> ZooConfig.validate { ZooConfig.uci with Epochs = -1 }) |> ignore
            let t = TrainingConfig.cpu Euclidean VelocityKind.Mlp
            for bad, name in [ { t with Iterations = 0 }, "Iterations"; { t with BatchSize = -1 }, "BatchSize"
                               { t with LearningRate = nan }, "LearningRate"; { t with LearningRate = infinity }, "LearningRate"
                               { t with Sigma = nan }, "Sigma"; { t with EmaDecay = 1.5 }, "EmaDecay"
                               { t with ClipNorm = Some infinity }, "ClipNorm"; { t with Prior = { Std = 0.0; Centre = Origin } }, "prior" ] do
                expectError Check.ErrorKind.InvalidOption [ name ] (fun () -> TrainingConfig.validate bad) |> ignore
        }
        test "Check.classify maps WeightFlowError and ArgumentException and nothing else; messages drop .NET's parameter suffix" {
            Expect.equal (Check.classify (Check.WeightFlowError(Check.ErrorKind.Busy, "x"))) (Some(Check.ErrorKind.Busy, "x")) "typed"
            Expect.equal (Check.classify (ArgumentException("bad count.", "count"))) (Some(Check.ErrorKind.InvalidOption, "bad count.")) "argument"
            Expect.isNone (Check.classify (NullReferenceException())) "a bug is not classified"
        }
    ]
