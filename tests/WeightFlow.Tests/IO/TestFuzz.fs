/// Issue 15: fuzzing every file loader (zoo, flow, samples, CSV, IDX). Each case mutates a small valid file (random
/// truncation, byte flips, header edits that keep the JSON valid, size lies in the length field, the shapes, offsets
/// or IDX dimensions) and requires that loading it returns a valid object or raises WeightFlowError: no other
/// exception, no case over `MaxCaseSeconds`, and no case allocating more managed memory than `allocationBound`
/// (native tensors are bounded by construction: Storage allocates exactly a data section's bytes, a flow model only
/// after `VelocityModel.checkSize`). Plus an FsCheck property over generated CSV text.
module WeightFlow.Tests.TestFuzz

open System
open System.IO
open System.Text
open System.Text.RegularExpressions
open Expecto
open FsCheck
open FsCheck.FSharp
open TorchSharp
open WeightFlow
open WeightFlow.Tests

/// Cases per format (the issue asks for at least 10,000).
let Cases = 10_000

/// A case may take at most this long (no hang): the slowest valid load here takes milliseconds.
let MaxCaseSeconds = 2.0

/// The managed bytes one load may allocate: 64 bytes per byte of the file plus 1 MiB (Storage holds the header, its
/// JSON document and chunked copies of the data; the CSV reader a string per field).
let allocationBound (fileLength: int) = 64L * int64 fileLength + (1L <<< 20)

type Outcome =
    | Loaded
    | Refused of Check.ErrorKind

/// Mutations of a file's bytes, seeded.
module Mutate =
    let truncate (r: Random) (b: byte[]) = b[.. r.Next(b.Length) - 1]

    let flip (r: Random) (headerEnd: int) (b: byte[]) =
      if b.Length = 0 then b
      else
        let c = Array.copy b
        for _ in 1 .. 1 + r.Next 4 do
            // most flips land in the header, where the structure is; the rest anywhere
            let i = if r.Next 4 > 0 && headerEnd > 0 then r.Next(min headerEnd c.Length) else r.Next c.Length
            c[i] <- c[i] ^^^ byte (1 <<< r.Next 8)
        c

    let private lies = [| "0"; "-1"; "1"; "7"; "4294967296"; "9223372036854775807"; "-9223372036854775808"; "1e300"; "2.5"; "\"x\""; "null"; "[]"; "{}" |]

    let private strings = [| ""; "x"; "-1"; "0"; "NaN"; "1e999"; "4-0-2"; "3-4"; "99999999999"; "rt"; "mlp"; "zoo"; "flow"; "2"; "a,b"; "1-2-3-4-5-6-7-8-9"; "100000-100000-100000" |]

    /// Replaces one JSON number or string value of a safetensors header (keeping it JSON where the replacement is),
    /// then writes the header length that matches the new header: a header that parses but lies.
    let header (r: Random) (b: byte[]) =
        if b.Length < 8 then b
        else
            let n = BitConverter.ToInt64(b, 0)
            if n <= 0L || n > int64 (b.Length - 8) then b
            else
                let h = Encoding.UTF8.GetString(b, 8, int n)
                let numbers = Regex.Matches(h, "-?[0-9]+(\\.[0-9]+)?")
                let strs = Regex.Matches(h, ":\"[^\"]*\"")
                let edited =
                    if r.Next 2 = 0 && numbers.Count > 0 then
                        let m = numbers[r.Next numbers.Count]
                        h.Substring(0, m.Index) + lies[r.Next lies.Length] + h.Substring(m.Index + m.Length)
                    elif strs.Count > 0 then
                        let m = strs[r.Next strs.Count]
                        h.Substring(0, m.Index) + ":\"" + strings[r.Next strings.Length] + "\"" + h.Substring(m.Index + m.Length)
                    else h
                let e = Encoding.UTF8.GetBytes edited
                Array.concat [ BitConverter.GetBytes(int64 e.Length); e; b[8 + int n ..] ]

    /// Writes a random length into the 8-byte header length field.
    let sizeLie (r: Random) (b: byte[]) =
        if b.Length < 8 then b
        else
            let c = Array.copy b
            let v =
                match r.Next 4 with
                | 0 -> r.NextInt64()
                | 1 -> -(r.NextInt64())
                | 2 -> BitConverter.ToInt64(b, 0) + int64 (r.Next(-16, 17))
                | _ -> int64 (r.Next c.Length)
            BitConverter.GetBytes(v).CopyTo(c, 0)
            c

    /// An IDX size lie: one big-endian dimension replaced.
    let idxDims (r: Random) (b: byte[]) =
        if b.Length < 8 || b[0] <> 0uy then b
        else
            let c = Array.copy b
            let ndims = int c[3]
            let i = 4 + 4 * r.Next(max 1 ndims)
            if i + 4 <= c.Length then
                let v = match r.Next 3 with 0 -> r.Next() | 1 -> -(r.Next()) | _ -> r.Next 64
                c[i] <- byte (v >>> 24); c[i + 1] <- byte (v >>> 16); c[i + 2] <- byte (v >>> 8); c[i + 3] <- byte v
            c

/// The end of a safetensors header (8 + its length), for aiming byte flips.
let headerEnd (b: byte[]) = if b.Length >= 8 then int (min (int64 b.Length) (8L + max 0L (BitConverter.ToInt64(b, 0)))) else 0

/// Runs `cases` mutations of `seed` through `load` (which reads the file at `path`); returns the outcome counts and
/// the slowest case's seconds. Fails on any exception other than WeightFlowError, a slow case or an allocation
/// over the bound.
let fuzz (name: string) (path: string) (seed: byte[]) (mutations: (Random -> byte[] -> byte[])[]) (cases: int)
         (load: string -> unit) =
    let counts = Collections.Generic.Dictionary<string, int>()
    let mutable slowest = 0.0
    let bump k = counts[k] <- (match counts.TryGetValue k with | true, c -> c + 1 | _ -> 1)
    for case in 0 .. cases - 1 do
        let r = Random(case)
        let mutated =
            // one to three mutations in a row
            let mutable b = seed
            for _ in 1 .. 1 + r.Next 3 do b <- mutations[r.Next mutations.Length] r b
            b
        File.WriteAllBytes(path, mutated)
        let sw = Diagnostics.Stopwatch.StartNew()
        let before = GC.GetAllocatedBytesForCurrentThread()
        let outcome =
            try
                Scope.value (fun () -> load path)
                Loaded
            with e ->
                match e with
                | Check.WeightFlowError(k, _) -> Refused k
                | e ->
                    let kept = Path.Combine(Path.GetTempPath(), $"wf-fuzz-failing-{name}-{case}")
                    File.WriteAllBytes(kept, mutated)
                    failtest $"{name} case {case}: {e.GetType().Name}: {e.Message} (the input is kept as {kept})\n{e}"
        let allocated = GC.GetAllocatedBytesForCurrentThread() - before
        let seconds = sw.Elapsed.TotalSeconds
        slowest <- max slowest seconds
        if seconds > MaxCaseSeconds then failtest $"{name} case {case} took {seconds:F1} s (bound {MaxCaseSeconds} s)"
        if allocated > allocationBound mutated.Length then
            failtest $"{name} case {case} allocated {allocated} managed bytes for a {mutated.Length}-byte file (bound {allocationBound mutated.Length})"
        bump (match outcome with Loaded -> "loaded" | Refused k -> Check.ErrorKind.text k)
    let summary = counts |> Seq.sortBy (fun kv -> kv.Key) |> Seq.map (fun kv -> $"{kv.Key} {kv.Value}") |> String.concat ", "
    printfn $"fuzz {name}: {cases} cases ({summary}); slowest {slowest * 1000.0:F1} ms"
    counts

let private storageMutations = [| Mutate.truncate; (fun r b -> Mutate.flip r (headerEnd b) b); Mutate.header; Mutate.header; Mutate.sizeLie |]

let private withDir (f: string -> unit) =
    // tmpfs when there is one: 50,000 small files are written
    let root = if Directory.Exists "/dev/shm" then "/dev/shm" else Path.GetTempPath()
    let dir = Path.Combine(root, $"wf-fuzz-{Guid.NewGuid():N}")
    Directory.CreateDirectory dir |> ignore
    try f dir finally Directory.Delete(dir, true)

/// Every format's fuzz must also have loaded some cases (mutations that keep the file valid, e.g. a flipped weight
/// bit) and refused many: a fuzz that only ever refuses would not show that valid objects come through.
let private expectMix (counts: Collections.Generic.Dictionary<string, int>) =
    Expect.isTrue (counts.ContainsKey "loaded") "some mutated files still load"
    Expect.isGreaterThan (counts |> Seq.filter (fun kv -> kv.Key <> "loaded") |> Seq.sumBy (fun kv -> kv.Value)) (Cases / 4) "many are refused"

/// A tiny zoo's bytes (4-8-2, 2 runs, 1 epoch).
let private zooBytes (dir: string) =
    let p = Path.Combine(dir, "seed-zoo.safetensors")
    Zoo.save p (Zoo.train { TestZoo.smallConfig with Runs = 2; Epochs = 1; Every = 4 } TestZoo.blobsTask (TestZoo.blobs 1L) ignore Threading.CancellationToken.None)
    File.ReadAllBytes p

let private flowBytes (dir: string) (kind: VelocityKind) =
    let p = Path.Combine(dir, $"seed-flow-{VelocityKind.text kind}.safetensors")
    let layout = Layout.parse "2-3-2"
    use gen = Scope.Rng.create 1L
    let model = VelocityModel.init gen torch.CPU (VelocityConfig.defaults kind 4 1) layout
    Flow.save p { Space = FlowSpace.create Normalized 1e-4 layout; Prior = Prior.defaults; Prediction = Endpoint; Model = model }
    File.ReadAllBytes p

[<Tests>]
let tests =
    testList "Fuzz" [
        test "zoo files: 10,000 mutated files load or raise WeightFlowError" {
            withDir (fun dir ->
                let seed = zooBytes dir
                let counts = fuzz "zoo" (Path.Combine(dir, "case.safetensors")) seed storageMutations Cases (fun p -> Zoo.load p |> ignore)
                expectMix counts)
        }
        test "flow files (RT and MLP velocity models): 10,000 mutated files load or raise WeightFlowError" {
            withDir (fun dir ->
                let rt, mlp = flowBytes dir VelocityKind.Rt, flowBytes dir VelocityKind.Mlp
                let path = Path.Combine(dir, "case.safetensors")
                let a = fuzz "flow (RT)" path rt storageMutations (Cases / 2) (fun p -> Flow.load torch.CPU p |> ignore)
                let b = fuzz "flow (MLP)" path mlp storageMutations (Cases / 2) (fun p -> Flow.load torch.CPU p |> ignore)
                for KeyValue(k, v) in b do a[k] <- (match a.TryGetValue k with | true, c -> c + v | _ -> v)
                expectMix a)
        }
        test "samples files: 10,000 mutated files load or raise WeightFlowError" {
            withDir (fun dir ->
                let layout = Layout.parse "2-3-2"
                let p = Path.Combine(dir, "seed.safetensors")
                use gen = Scope.Rng.create 2L
                use theta = torch.randn([| 3L; int64 (Layout.paramCount layout) |], generator = gen)
                use g = Scope.Rng.create 1L
                let model = VelocityModel.init g torch.CPU (VelocityConfig.defaults VelocityKind.Mlp 4 1) layout
                let flow = { Space = FlowSpace.create Euclidean 1e-4 layout; Prior = Prior.defaults; Prediction = Endpoint; Model = model }
                Sampling.save p (Sampling.metadata (SamplingConfig.defaults 3)) flow { Layout = layout; Theta = theta; NonFinite = [||]; Seconds = 0.0 }
                let counts = fuzz "samples" (Path.Combine(dir, "case.safetensors")) (File.ReadAllBytes p) storageMutations Cases (fun p -> Sampling.load p |> ignore)
                expectMix counts)
        }
        test "CSV files: 10,000 mutated files load or raise WeightFlowError" {
            withDir (fun dir ->
                let r = Random 3
                let text = "f1,f2,f3,label\n" + String.Join("\n", [ for i in 0 .. 29 -> $"{r.NextDouble() * 10.0 - 5.0:F4},{r.Next(100)},{r.NextDouble():E3},{i % 3}" ]) + "\n"
                let seed = Encoding.UTF8.GetBytes text
                let tokens = [| ","; ";"; "\n"; "\t"; "NaN"; "inf"; "-"; "."; "e"; "abc"; "1e999"; "\"" ; "7"; "0.5"; "-1"; " "; "\r\n" |]
                // text edits: insert or replace a token at a random place; plus the byte-level mutations
                let edit (r: Random) (b: byte[]) =
                    let s = Encoding.UTF8.GetString b
                    if s.Length = 0 then b
                    else
                        let i = r.Next s.Length
                        let t = tokens[r.Next tokens.Length]
                        let s = if r.Next 2 = 0 then s.Insert(i, t) else s.Substring(0, i) + t + s.Substring(min s.Length (i + 1 + r.Next 3))
                        Encoding.UTF8.GetBytes s
                let load p =
                    let x, y = Csv.read Csv.defaults p
                    use x = x
                    use y = y
                    // a loaded table is numeric and finite with integer labels >= 0, one per row
                    use ok = torch.isfinite(x).all()
                    if not (ok.ToBoolean()) || x.shape[0] <> y.shape[0] || (y.numel() > 0L && y.min().ToInt64() < 0L) then
                        failtest "Csv.read returned a non-finite table or bad labels"
                let counts = fuzz "csv" (Path.Combine(dir, "case.csv")) seed [| Mutate.truncate; edit; edit; edit; (fun r b -> Mutate.flip r b.Length b) |] Cases load
                expectMix counts)
        }
        test "IDX files (raw and gzip): 10,000 mutated files load or raise WeightFlowError" {
            withDir (fun dir ->
                let images = { Dims = [| 5; 4; 4 |]; Data = Array.init 80 (fun i -> byte (i * 37)) }
                let raw = Idx.encode images
                let gz = TestData.gzip raw
                let mutations = [| Mutate.truncate; (fun r b -> Mutate.flip r 16 b); Mutate.idxDims; Mutate.idxDims |]
                let load p = Idx.load p |> Idx.toTensor |> fun t -> t.Dispose()
                let a = fuzz "idx" (Path.Combine(dir, "case-idx")) raw mutations (Cases / 2) load
                let b = fuzz "idx.gz" (Path.Combine(dir, "case-idx.gz")) gz [| Mutate.truncate; (fun r b -> Mutate.flip r b.Length b) |] (Cases / 2) load
                for KeyValue(k, v) in b do a[k] <- (match a.TryGetValue k with | true, c -> c + v | _ -> v)
                expectMix a)
        }
        testPropertyWithConfig { Generators.config with maxTest = 300 } "generated CSV text: parsed rows equal the generated numbers, or one InvalidData error naming a line" <| fun (rows: (NormalFloat * NormalFloat * PositiveInt) list) (garbage: bool) (at: NonNegativeInt) ->
            let lines =
                [ for NormalFloat a, NormalFloat b, PositiveInt c in rows ->
                    String.Join(",", a.ToString("R", Globalization.CultureInfo.InvariantCulture), b.ToString("R", Globalization.CultureInfo.InvariantCulture), string (c % 5)) ]
            let ragged = garbage && not lines.IsEmpty
            // numbers beyond float32's range are refused too (features are float32)
            let tooBig = rows |> List.exists (fun (NormalFloat a, NormalFloat b, _) -> not (Single.IsFinite(float32 a) && Single.IsFinite(float32 b)))
            let bad = ragged || tooBig
            let lines =
                if ragged then
                    let i = at.Get % lines.Length
                    lines |> List.mapi (fun j l -> if j = i then l + ",oops" else l)
                else lines
            try
                let x, y = Csv.parse { Csv.defaults with Header = Absent } "gen.csv" lines
                Expect.isFalse bad "a ragged row must be refused"
                Expect.isFalse lines.IsEmpty "an empty text must be refused"
                let xs = x.data<float32>().ToArray()
                let expected = [| for NormalFloat a, NormalFloat b, _ in rows do yield float32 a; yield float32 b |]
                Expect.sequenceEqual xs expected "the features are the generated numbers (as float32)"
                Expect.sequenceEqual (y.data<int64>().ToArray()) [| for _, _, PositiveInt c in rows -> int64 (c % 5) |] "labels"
            with Check.WeightFlowError(kind, msg) ->
                Expect.equal kind Check.ErrorKind.InvalidData msg
                Expect.isTrue (bad || lines.IsEmpty) $"refused a valid text: {msg}"
                Expect.stringContains msg (if lines.IsEmpty then "empty" else "line") "names the line (or says the text is empty)"
                if ragged && not tooBig && at.Get % lines.Length > 0 then Expect.stringContains msg $"line {at.Get % lines.Length + 1}" "names the ragged line"
    ]
